// End-to-end test of the app in a real headless Chromium (Debian's package): the built app is
// served on 127.0.0.1, the page must find the WebGPU adapter, compute the probe gradient on it
// and on the CPU backend (through the switch, and by itself when WebGPU is missing), and every
// number must match the independent f64 reference printed by the native CLI
// (`a2x probe --reference --json`). The model zoo card must download, check and run each shipped
// model on both backends and agree with the native CLI (`a2x classify --json`) on the top-1.
//
//   node tests/e2e/app.cjs DIST_DIR REFERENCE_DIR OUT_DIR
// REFERENCE_DIR holds probe.json and classify-<model>.json.
'use strict';
const fs = require('fs');
const path = require('path');
const { serve } = require('../../scripts/serve.cjs');
const { CHROMIUM, check, withBrowser, finish, openDisclosure } = require('./lib.cjs');

const [dist, referenceDir, outDir] = process.argv.slice(2);
const reference = JSON.parse(fs.readFileSync(path.join(referenceDir, 'probe.json'), 'utf8'));
const MODELS = ['lite0', 'lite1', 'lite2', 'squeezenet'];
const nativeTop = Object.fromEntries(MODELS.map((id) => {
  const report = JSON.parse(fs.readFileSync(path.join(referenceDir, `classify-${id}.json`), 'utf8'));
  return [id, report[0].top];
}));
const TOLERANCE = 1e-5; // float32 against f64, per entry; the page reports its own check too
const TIMEOUT = 240_000; // CPU-speed SwiftShader compiles kernels on first use

function compare(name, run) {
  check(`${name}: gradient has ${reference.gradient.length} entries`,
    run.result.gradient.length === reference.gradient.length, `got ${run.result.gradient.length}`);
  let worst = Math.abs(run.result.output - reference.output);
  run.result.gradient.forEach((g, i) => { worst = Math.max(worst, Math.abs(g - reference.gradient[i])); });
  check(`${name}: output and gradient match the f64 reference (max |error| ${worst.toExponential(2)} <= ${TOLERANCE})`,
    worst <= TOLERANCE);
  check(`${name}: the page's own check passed`, run.ok === true);
  check(`${name}: gradient is not all zeros`, run.result.gradient.some((g) => Math.abs(g) > 1e-3));
}

async function probeRun(page) {
  // The probe sits under the closed Diagnostics disclosure: present, not visible.
  await page.waitForSelector('#probe[data-state="done"], #probe[data-state="failed"]', { timeout: TIMEOUT, state: 'attached' });
  const state = await page.getAttribute('#probe', 'data-state');
  if (state !== 'done') throw new Error(`probe failed: ${await page.textContent('#probe')}`);
  return JSON.parse(await page.textContent('#probe-json'));
}

// Classifies the sample photo with model `id` through the zoo card.
async function classify(page, id) {
  await openDisclosure(page, '#diagnostics');
  await page.click(`#classify-${id}`);
  const row = `#zoo-${id}`;
  await page.waitForSelector(`${row}[data-state="done"], ${row}[data-state="failed"]`, { timeout: TIMEOUT });
  if (await page.getAttribute(row, 'data-state') !== 'done') {
    throw new Error(`${id} failed: ${await page.textContent(row)}`);
  }
  return JSON.parse(await page.textContent(`#zoo-json-${id}`));
}

// Every model on one backend; checks against the native CLI's top-1. Returns top-1 per model.
async function classifyAll(page, backend) {
  const top1 = {};
  for (const id of MODELS) {
    const result = await classify(page, id);
    const native = nativeTop[id][0];
    const ours = result.top[0];
    top1[id] = ours.class;
    check(`${backend} ${id}: ran on ${backend}`, result.backend === backend, result.backend);
    check(`${backend} ${id}: top-1 ${ours.class} "${result.names[0]}" = native CLI's ${native.class}`, ours.class === native.class);
    check(`${backend} ${id}: top-1 probability ${ours.probability.toFixed(4)} within 0.01 of native ${native.probability.toFixed(4)}`,
      Math.abs(ours.probability - native.probability) <= 0.01);
    console.log(`       (download ${result.download_ms.toFixed(0)} ms, load ${result.load_ms.toFixed(0)} ms, classify ${result.classify_ms.toFixed(0)} ms)`);
  }
  return top1;
}

(async () => {
  fs.mkdirSync(outDir, { recursive: true });
  const server = await serve(dist, 0);
  const url = `http://127.0.0.1:${server.address().port}/`;
  console.log(`e2e: ${url} with ${CHROMIUM}`);
  try {
    console.log('WebGPU (SwiftShader through --enable-unsafe-webgpu), then the CPU switch:');
    let errors = await withBrowser(['--enable-unsafe-webgpu'], url, async (page) => {
      const gpuRun = await probeRun(page);
      check('backend card says WebGPU', await page.getAttribute('#backend', 'data-kind') === 'webgpu');
      check('the probe ran on WebGPU', gpuRun.backend === 'WebGPU', gpuRun.backend);
      const adapter = await page.textContent('#adapter-name');
      check(`adapter name is shown ("${adapter}")`, adapter.trim().length > 0);
      compare('WebGPU', gpuRun);
      const gpuTop1 = await classifyAll(page, 'WebGPU');
      await page.screenshot({ path: path.join(outDir, 'webgpu.png'), fullPage: true });

      await page.click('#force-cpu');
      await page.waitForFunction(() => document.querySelector('#probe-backend')?.textContent.startsWith('CPU'),
        null, { timeout: TIMEOUT });
      const cpuRun = await probeRun(page);
      check('the switch moved the probe to the CPU', cpuRun.backend === 'CPU (flex)', cpuRun.backend);
      check('the switch is kept in the URL', page.url().endsWith('#backend=cpu'), page.url());
      compare('CPU via switch', cpuRun);
      const cpuTop1 = await classifyAll(page, 'CPU (flex)');
      for (const id of MODELS) {
        check(`${id}: same top-1 on WebGPU and on the CPU`, gpuTop1[id] === cpuTop1[id], `${gpuTop1[id]} vs ${cpuTop1[id]}`);
      }
      await page.screenshot({ path: path.join(outDir, 'cpu-switch.png'), fullPage: true });
    });
    errors.forEach((e) => check('no browser errors', false, e));

    console.log('No WebGPU (Chromium without --enable-unsafe-webgpu): automatic CPU fallback:');
    errors = await withBrowser([], url, async (page) => {
      const run = await probeRun(page);
      check('backend card says CPU', await page.getAttribute('#backend', 'data-kind') === 'cpu');
      const reason = await page.textContent('#backend .reason');
      check(`the page says why ("${reason.trim()}")`, /WebGPU unavailable/.test(reason));
      check('the probe ran on the CPU (flex)', run.backend === 'CPU (flex)', run.backend);
      compare('CPU fallback', run);
      await page.screenshot({ path: path.join(outDir, 'no-webgpu.png'), fullPage: true });
    });
    errors.forEach((e) => check('no browser errors', false, e));

    console.log('A link with #backend=cpu opens on the CPU:');
    errors = await withBrowser(['--enable-unsafe-webgpu'], `${url}#backend=cpu`, async (page) => {
      const run = await probeRun(page);
      check('the probe ran on the CPU (flex)', run.backend === 'CPU (flex)', run.backend);
      check('the switch shows it', await page.isChecked('#force-cpu'));
    });
    errors.forEach((e) => check('no browser errors', false, e));

    // ndarray, the CPU backend before issue #23, stays reachable to measure flex against it.
    console.log('#cpu=ndarray computes on ndarray:');
    errors = await withBrowser(['--enable-unsafe-webgpu'], `${url}#backend=cpu&cpu=ndarray`, async (page) => {
      const run = await probeRun(page);
      check('the probe ran on ndarray', run.backend === 'CPU (ndarray)', run.backend);
      compare('CPU (ndarray)', run);
    });
    errors.forEach((e) => check('no browser errors', false, e));
  } catch (e) {
    check('end-to-end run completed', false, e.stack || String(e));
  } finally {
    server.close();
  }
  finish('e2e (app)');
})();
