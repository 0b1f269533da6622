/* SPDX-License-Identifier: MIT
 * dw_layers.c - times ndlrt_conv2d_f32 on the depthwise layers of the OFA MobileNetV3
 * supernet's smallest (first 7 rows) and largest (rest) subnets, batch 1, bias + the
 * subnet's activation (1 relu, 8 hard-swish): best of 200 x 20 calls. Build and run from
 * the repository root (compare two checkouts by building each):
 *   gcc -std=c11 -O3 -march=native -I. bench/supernet/dw_layers.c runtime/kernels/[a-z]*.c \
 *       -o /tmp/dw_layers -lm && /tmp/dw_layers
 */
#define _POSIX_C_SOURCE 199309L
#include "runtime/ndlrt.h"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
int main(void){
  /* c h w k s act */
  static const int sh[][6]={{8,16,16,3,1,1},{24,16,16,3,2,1},{24,8,8,3,1,1},{24,8,8,3,2,8},{24,4,4,3,1,8},{24,4,4,3,2,8},{48,2,2,3,1,8},
    {8,32,32,3,1,1},{48,32,32,7,2,1},{48,16,16,7,1,1},{48,16,16,7,2,8},{48,8,8,7,1,8},{96,8,8,7,2,8},{96,4,4,7,1,8}};
  for(unsigned l=0;l<sizeof sh/sizeof sh[0];l++){
    int c=sh[l][0],h=sh[l][1],k=sh[l][3],s=sh[l][4];
    int oh=(h+2*(k/2)-k)/s+1;
    NdlrtConv2d p={1,c,h,h,c,k,k,oh,oh,s,s,k/2,k/2,1,1,c,NULL,{NULL,sh[l][5],NULL,0}};
    float *x=calloc((size_t)c*h*h+64,4),*y=calloc((size_t)c*oh*oh+64,4),*w=calloc((size_t)c*k*k+64,4),*b=calloc(c+16,4);
    for(int i=0;i<c*h*h;i++)x[i]=(float)((i*37%101)-50)/50.f;
    for(int i=0;i<c*k*k;i++)w[i]=(float)((i*13%29)-14)/14.f;
    float *wp=calloc(ndlrt_conv2d_packed_floats(&p)+16,4);ndlrt_conv2d_pack(&p,w,wp);p.w_packed=wp;p.ep.bias=b;
    float *sc=calloc(ndlrt_conv2d_scratch_floats(&p)+64,4);
    double best=1e9;
    for(int r=0;r<200;r++){double t0=now();for(int q=0;q<20;q++)ndlrt_conv2d_f32(&p,x,y,sc);double t=(now()-t0)/20;if(t<best)best=t;}
    double cs=0;for(int i=0;i<c*oh*oh;i++)cs+=y[i];
    printf("dw c%-3d %2dx%-2d k%d s%d act%d: %7.3f us  (sum %.4g)\n",c,h,h,k,s,sh[l][5],best*1e6,cs);
  }
  return 0;
}
