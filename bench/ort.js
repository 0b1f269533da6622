#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// ort.js - times the benchmark models in ONNX Runtime (npm onnxruntime-node, CPU EP).
//
//   node bench/ort.js [--dir bench/out] [--threads 1] [--only mlp,cnn] [--batches 1,64]
//                     [--min-runs 20] [--min-time 1.0] [--no-outputs] [--serve]
//
// Reads DIR/manifest.json (written by bench/models.py). For each model it opens one
// InferenceSession (intraOpNumThreads = --threads, interOpNumThreads = 1, sequential
// execution, graphOptimizationLevel 'all'), and for each batch: runs warm-up calls
// (>= 3 and >= 0.2 s), then times >= --min-runs calls and >= --min-time seconds, each
// call timed alone (await session.run(feeds) with process.hrtime.bigint()), and prints one
// JSON line {"kind":"ort","model","batch","threads","median_ms","min_ms","p90_ms","runs"}.
// Unless --no-outputs, the last call's outputs go to DIR/MODEL.b<B>.ort<T>.safetensors for
// bench/check.py. It also times DIR/noop.onnx (y = Identity(x), x: f32[1, 32]) the same way:
// the harness's per-call overhead (JS -> N-API -> ORT and back), {"kind":"noop",...}.
// With --serve it reads requests from stdin instead (see serve() below): bench/bench.py keeps
// one ort.js running so that ORT, PyTorch and ndlc time each case back to back.
'use strict';

const fs = require('fs');
const path = require('path');

let ort;
try {
  ort = require('onnxruntime-node');   // resolved from bench/node_modules
} catch (e) {
  console.error('ort.js: cannot load onnxruntime-node (run bench/run.sh, which does ' +
                '"npm install --ignore-scripts onnxruntime-node@1.30.0" in bench/): ' + e.message);
  process.exit(1);
}

function parseArgs(argv) {
  const a = { dir: path.join(__dirname, 'out'), threads: 1, only: null, batches: null,
              minRuns: 20, minTime: 1.0, outputs: true, serve: false };
  for (let i = 2; i < argv.length; i++) {
    const k = argv[i], v = () => { if (i + 1 >= argv.length) usage(k); return argv[++i]; };
    if (k === '--dir') a.dir = v();
    else if (k === '--threads') a.threads = parseInt(v(), 10);
    else if (k === '--only') a.only = v().split(',');
    else if (k === '--batches') a.batches = v().split(',').map(Number);
    else if (k === '--min-runs') a.minRuns = parseInt(v(), 10);
    else if (k === '--min-time') a.minTime = parseFloat(v());
    else if (k === '--no-outputs') a.outputs = false;
    else if (k === '--serve') a.serve = true;
    else usage(k);
  }
  return a;
}

function usage(k) {
  console.error('ort.js: bad argument ' + k + ' (see the comment at the top of bench/ort.js)');
  process.exit(2);
}

// ---- safetensors (F32 only: that is all the benchmark uses) --------------------------------
function readSafetensors(file) {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  const base = 8 + n, out = {};
  for (const [name, h] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (h.dtype !== 'F32') throw new Error(file + ': ' + name + ' is ' + h.dtype + ', want F32');
    const [b, e] = h.data_offsets;
    const data = new Float32Array((e - b) / 4);
    Buffer.from(data.buffer).set(buf.subarray(base + b, base + e));   // copy: may be unaligned
    out[name] = { dims: h.shape, data };
  }
  return out;
}

function writeSafetensors(file, tensors) {
  const header = {}, blobs = [];
  let off = 0;
  for (const name of Object.keys(tensors).sort()) {
    const t = tensors[name];
    if (t.type !== 'float32') throw new Error('output ' + name + ' is ' + t.type);
    const bytes = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    header[name] = { dtype: 'F32', shape: t.dims.map(Number), data_offsets: [off, off + bytes.length] };
    blobs.push(bytes);
    off += bytes.length;
  }
  let text = JSON.stringify(header);
  text += ' '.repeat((8 - (Buffer.byteLength(text) % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(text)));
  fs.writeFileSync(file, Buffer.concat([len, Buffer.from(text, 'utf8'), ...blobs]));
}

// ---- timing -----------------------------------------------------------------------------------
const now = () => process.hrtime.bigint();
const ms = (t) => Number(t) / 1e6;

async function timeCalls(session, feeds, minRuns, minTime) {
  let last;
  const w0 = now();
  for (let i = 0; i < 3 || ms(now() - w0) < 200; i++) last = await session.run(feeds);
  const times = [];
  const t0 = now();
  while (times.length < minRuns || (ms(now() - t0) < minTime * 1000 && times.length < 100000)) {
    const a = now();
    last = await session.run(feeds);
    times.push(ms(now() - a));
  }
  times.sort((x, y) => x - y);
  const q = (p) => times[Math.min(times.length - 1, Math.floor(p * times.length))];
  const n = times.length;
  const median = n % 2 ? times[(n - 1) / 2] : (times[n / 2 - 1] + times[n / 2]) / 2;
  return { median_ms: median, min_ms: times[0], p90_ms: q(0.9), runs: n, outputs: last };
}

// The native binding under the public API (dist/binding.js of onnxruntime-node): its run() is
// synchronous. The public InferenceSession.run wraps the same call in setImmediate and a
// Promise and validates feeds; "raw" requests time the binding directly to show how much of
// the per-call overhead is that JavaScript plumbing.
let rawBinding = null;
function raw() {
  if (!rawBinding) {
    const b = require(path.join(path.dirname(require.resolve('onnxruntime-node')), 'binding.js'));
    b.initOrt();
    rawBinding = b.binding;
  }
  return rawBinding;
}

const rawSessions = new Map();
function getRawSession(dir, file, threads) {
  const key = file + '/' + threads;
  if (!rawSessions.has(key)) {
    const s = new (raw().InferenceSession)();
    s.loadModel(path.join(dir, file), sessionOptions(threads));
    rawSessions.set(key, s);
  }
  return rawSessions.get(key);
}

// times the raw session with the same loop as timeCalls (a sync call behind an async face)
async function timeRaw(s, feeds, outNames, minRuns, minTime) {
  const fetches = {};
  for (const n of outNames) fetches[n] = null;
  return timeCalls({ run: async (f) => s.run(f, fetches, {}) }, feeds, minRuns, minTime);
}

function sessionOptions(threads) {
  return { executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1,
           executionMode: 'sequential', graphOptimizationLevel: 'all' };
}

const sessions = new Map();   // "model/threads" -> InferenceSession

async function getSession(dir, file, threads) {
  const key = file + '/' + threads;
  if (!sessions.has(key)) {
    sessions.set(key, await ort.InferenceSession.create(path.join(dir, file), sessionOptions(threads)));
  }
  return sessions.get(key);
}

async function timeNoop(a, man, threads) {
  const s = await getSession(a.dir, man.noop.onnx, threads);
  const n = man.noop.shape.reduce((p, d) => p * d, 1);
  const x = new ort.Tensor('float32', new Float32Array(n), [1, ...man.noop.shape]);
  const r = await timeCalls(s, { x }, Math.max(a.minRuns, 200), Math.min(a.minTime, 0.5));
  delete r.outputs;
  const rs = getRawSession(a.dir, man.noop.onnx, threads);
  const rr = await timeRaw(rs, { x }, ['y'], Math.max(a.minRuns, 200), Math.min(a.minTime, 0.5));
  return { kind: 'noop', threads, ort_version: ort.env.versions.node, ...r,
           raw_median_ms: rr.median_ms, raw_min_ms: rr.min_ms };
}

async function timeCase(a, m, c, threads) {
  const s = await getSession(a.dir, m.onnx, threads);
  const inputs = readSafetensors(path.join(a.dir, c.input));
  const feeds = {};
  for (const name of s.inputNames) {
    if (!inputs[name]) throw new Error(c.input + ': no input ' + name);
    feeds[name] = new ort.Tensor('float32', inputs[name].data, inputs[name].dims);
  }
  const r = await timeCalls(s, feeds, a.minRuns, a.minTime);
  let out = null;
  if (a.outputs) {
    out = `${m.name}.b${c.batch}.ort${threads}.safetensors`;
    writeSafetensors(path.join(a.dir, out), r.outputs);
  }
  delete r.outputs;
  if (a.raw === true || (a.raw === 'auto' && r.median_ms < 1.0)) {
    // the same case through the synchronous native binding
    const rs = getRawSession(a.dir, m.onnx, threads);
    const rr = await timeRaw(rs, feeds, s.outputNames, a.minRuns, a.minTime);
    r.raw_median_ms = rr.median_ms;
    r.raw_min_ms = rr.min_ms;
  }
  return { kind: 'ort', model: m.name, batch: c.batch, threads, ...r, out };
}

function findCase(man, model, batch) {
  const m = man.models.find((x) => x.name === model);
  const c = m && m.cases.find((x) => x.batch === batch);
  if (!c) throw new Error('no case ' + model + ' b' + batch + ' in manifest.json');
  return [m, c];
}

// --serve: one JSON request per stdin line, one JSON answer per stdout line:
//   {"noop": true, "threads": T}  or  {"model": M, "batch": B, "threads": T}
// (optional "min_runs", "min_time", "outputs" override the command line; "raw": true also
// times the case through the native binding, "raw": "auto" does when it took < 1 ms),
// {"quit": true} ends.
async function serve(a, man) {
  const rl = require('readline').createInterface({ input: process.stdin, terminal: false });
  for await (const line of rl) {
    if (!line.trim()) continue;
    let ans;
    try {
      const q = JSON.parse(line);
      if (q.quit) break;
      const o = { ...a, minRuns: q.min_runs || a.minRuns, minTime: q.min_time || a.minTime,
                  outputs: q.outputs === undefined ? a.outputs : q.outputs, raw: q.raw || false };
      const threads = q.threads || a.threads;
      if (q.noop) ans = await timeNoop(o, man, threads);
      else {
        const [m, c] = findCase(man, q.model, q.batch);
        ans = await timeCase(o, m, c, threads);
      }
    } catch (e) {
      ans = { kind: 'error', error: String(e && e.message || e) };
    }
    console.log(JSON.stringify(ans));
  }
  for (const s of sessions.values()) await s.release();
  for (const s of rawSessions.values()) s.dispose();
}

async function main() {
  const a = parseArgs(process.argv);
  const man = JSON.parse(fs.readFileSync(path.join(a.dir, 'manifest.json'), 'utf8'));
  if (a.serve) return serve(a, man);
  console.log(JSON.stringify(await timeNoop(a, man, a.threads)));
  for (const m of man.models) {
    if (a.only && !a.only.includes(m.name)) continue;
    for (const c of m.cases) {
      if (a.batches && !a.batches.includes(c.batch)) continue;
      console.log(JSON.stringify(await timeCase(a, m, c, a.threads)));
    }
  }
  for (const s of sessions.values()) await s.release();
  for (const s of rawSessions.values()) s.dispose();
}

main().catch((e) => { console.error('ort.js: ' + (e && e.stack || e)); process.exit(1); });
