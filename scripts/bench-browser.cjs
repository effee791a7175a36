// The page's "Benchmark this device" in headless Chromium (Debian's package), on WebGPU and on
// the CPU backend (flex; `--ndarray` adds ndarray), beside the native CLI's `a2x bench` of the
// same settings on this machine: WebGPU beside native wgpu on the same adapter (SwiftShader's
// Vulkan driver, which the headless browser's WebGPU runs on), the CPU beside flex with one
// thread, as the browser's CPU backend has (wasm here runs no threads). One table, browser ÷
// native. A benchmark, not a test.
//
//   node scripts/bench-browser.cjs DIST_DIR [A2X_BIN] [--model=ID] [--ndarray] [--no-webgpu] [--no-cpu] [--b4-only]
//
// --model picks a model of the zoo (the page's default otherwise), e.g. --model=lite0.
//
// DIST_DIR is a built app (`make build-debug` → target/e2e/dist, or dist/ from `make serve`);
// A2X_BIN the native binary (e.g. ~/.cache/a2x/target/release/a2x), optional.
'use strict';
const { execFileSync } = require('child_process');
const { serve } = require('./serve.cjs');
const { withBrowser } = require('../tests/e2e/lib.cjs');

const args = process.argv.slice(2);
const [dist, a2x] = args.filter((a) => !a.startsWith('--'));
const MODEL = (args.find((a) => a.startsWith('--model=')) || '').slice('--model='.length);
// Only the first setting (b 4): on SwiftShader an iteration at b 32 takes minutes.
const B4_ONLY = args.includes('--b4-only');
const TIMEOUT = 1_800_000;
// Chromium's own SwiftShader Vulkan driver and loader: native wgpu on the adapter the headless
// browser's WebGPU uses (without them wgpu finds Mesa's llvmpipe through OpenGL here).
const SWIFTSHADER = { VK_ICD_FILENAMES: '/usr/lib/chromium/vk_swiftshader_icd.json', LD_LIBRARY_PATH: '/usr/lib/chromium' };

async function inBrowser(url) {
  let report = null;
  const errors = await withBrowser(['--enable-unsafe-webgpu'], url, async (page) => {
    await page.waitForSelector('#model[data-state="ready"]', { timeout: TIMEOUT });
    if (MODEL) {
      await page.selectOption('#model-choice', MODEL);
      await page.waitForFunction((id) => document.querySelector('#model')?.dataset.state === 'ready' && document.querySelector('#model-choice')?.value === id, MODEL, { timeout: TIMEOUT });
    }
    await page.click('#bench summary');
    await page.click('#bench-run');
    await page.waitForFunction((b4Only) => {
      const state = document.querySelector('#bench')?.dataset.state;
      const rows = JSON.parse(document.querySelector('#bench-json')?.textContent || '{"rows":[]}').rows;
      return state === 'done' || state === 'failed' || (b4Only && rows.length >= 1);
    }, B4_ONLY, { timeout: TIMEOUT });
    report = JSON.parse(await page.textContent('#bench-json'));
    if (B4_ONLY) report.rows = report.rows.slice(0, 1);
  });
  if (errors.length) console.error(errors.join('\n'));
  return report;
}

// `a2x bench` of the same setting natively: its table row for one backend, as numbers. flex runs
// on one thread, as the browser's CPU backend does; wgpu on SwiftShader's Vulkan driver.
function native(model, batch, backend) {
  const env = backend === 'wgpu' ? { ...process.env, ...SWIFTSHADER } : { ...process.env, RAYON_NUM_THREADS: '1' };
  const out = execFileSync(a2x, ['bench', '--backends', backend, '--model', model, '--preset', 'a2x', '--batch', String(batch),
    '--num-samples', '32', '--iters', '4', '--chunk', '8'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], env });
  const row = out.split('\n').find((l) => l.startsWith(`| ${backend}`));
  const cells = row.split('|').map((c) => c.trim());
  return { gradient_ms: Number(cells[7]), sign_check_ms: Number(cells[8]), probability_ms: Number(cells[9]), total_ms: Number(cells[11]) };
}

(async () => {
  const server = await serve(dist, 0);
  const url = `http://127.0.0.1:${server.address().port}/`;
  // Each browser backend, with the native backend it is compared with.
  const runs = [];
  if (!args.includes('--no-webgpu')) runs.push(['WebGPU', url, 'wgpu']);
  if (!args.includes('--no-cpu')) runs.push(['CPU (flex)', `${url}#backend=cpu`, 'flex']);
  if (args.includes('--ndarray')) runs.push(['CPU (ndarray)', `${url}#backend=cpu&cpu=ndarray`, 'flex']);
  console.log(`${new Date().toISOString().slice(0, 10)}, headless Chromium, ${require('os').cpus().length} cores`);
  console.log('| where | backend | model | setting | gradient ms | ± check ms | ℘ ms | ms per iteration | browser ÷ native |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  try {
    const nativeRows = {};
    for (const [label, address, backend] of runs) {
      const report = await inBrowser(address);
      if (!report) { console.log(`| browser | ${label} | failed |||||||`); continue; }
      for (const r of report.rows) {
        const key = `${backend} ${report.model} ${r.batch}`;
        if (a2x && !(key in nativeRows)) nativeRows[key] = native(report.model, r.batch, backend);
        const n = nativeRows[key];
        const ratio = n ? (r.total_ms / n.total_ms).toFixed(1) : '';
        console.log(`| browser | ${report.backend} | ${report.model} | ${r.setting} | ${r.gradient_ms.toFixed(0)} | ${r.sign_check_ms.toFixed(0)} | ${r.probability_ms.toFixed(0)} | ${r.total_ms.toFixed(0)} | ${ratio} |`);
      }
    }
    for (const [key, n] of Object.entries(nativeRows)) {
      const [backend, model, batch] = key.split(' ');
      const where = backend === 'wgpu' ? 'wgpu, SwiftShader Vulkan' : 'flex, one thread';
      console.log(`| native | ${where} | ${model} | a2x defaults, b ${batch} | ${n.gradient_ms.toFixed(0)} | ${n.sign_check_ms.toFixed(0)} | ${n.probability_ms.toFixed(0)} | ${n.total_ms.toFixed(0)} | 1 |`);
    }
  } finally {
    server.close();
  }
})();
