#!/usr/bin/env node
// One untraced run of a recording, as the floor of a build's trace and verification: start the image's
// function in a throwaway container, wait until it is ready, replay every request, remove it. Prints
// the wall milliseconds as JSON.
//
//   node benchmarks/untraced-run.mjs IMAGE RECORDING
import { performance } from 'node:perf_hooks';
import { FunctionContainer } from '../dist/src/docker/function-container.js';
import { loadRecording } from '../dist/src/recording/parse.js';

const [image, recordingFile] = process.argv.slice(2);
if (!image || !recordingFile) {
  console.error('usage: node benchmarks/untraced-run.mjs IMAGE RECORDING');
  process.exit(2);
}
const recording = await loadRecording(recordingFile);
const startedAt = performance.now();
const container = await FunctionContainer.start({ image, recording, purpose: 'bench-floor' });
try {
  await container.waitReady();
  await container.replay();
} finally {
  await container.remove();
}
console.log(JSON.stringify({ ms: Math.round(performance.now() - startedAt) }));
