// End-to-end test of the explanation page in a real headless Chromium (Debian's package), on
// WebGPU (SwiftShader) and on the forced CPU backend: the page downloads its default model (the
// manifest's `default_model`, SqueezeNet 1.1 since issue #21) from the local server with a progress bar, a class is picked by search, a bundled photo becomes the seed, the
// fast preview runs a few iterations live, and then
//   - ℘ values appear, and the page's own share link replayed by the native CLI (`a2x replay`,
//     flex backend, the `image` crate's decoder) gives the same p: an independent computation of
//     the same run (a few iterations at b 4 are too few for ℘ itself to rise reliably under the
//     default's random placements),
//   - the perturbation canvas is not blank (its pixels vary; an all-zero p draws flat mid-grey),
//   - the exports are a valid PNG of the model's input size and JSON with the same ℘ curve,
//   - the run goes on in the engine's web worker: on either backend the page's own thread has no
//     task over 200 ms during it (a PerformanceObserver for `longtask`), Pause, Resume and Cancel
//     answer within 100 ms, and a cancelled run stops within one iteration,
//   - "Benchmark this device" times the defaults at b 4 and b 32 per phase (on the CPU),
//   - a run (CPU) whose worker is killed goes on in one new worker, and after a reload mid-run the
//     edited seed and the settings are back, the run is offered, and Resume ends it with the
//     uninterrupted run's p and ℘ curve exactly; after a reload (WebGPU) the seed from the
//     visitor's own image with its stroke and their own photo in D̄ are back,
//   - the first screen at 1280×800 and 390×844 shows model, class, seed and Run, with the other
//     settings and the diagnostics folded away, and no horizontal overflow.
// Screenshots go to OUT_DIR.
//
//   node tests/e2e/explain.cjs DIST_DIR OUT_DIR
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const { execFileSync } = require('child_process');
const { serve } = require('../../scripts/serve.cjs');
const { check, withBrowser, finish, openDisclosure, strokeAcross } = require('./lib.cjs');

const [dist, outDir] = process.argv.slice(2);
const TIMEOUT = 600_000; // SwiftShader and the wasm CPU backend are CPU-speed: minutes, not seconds
const manifest = JSON.parse(fs.readFileSync(path.join(dist, 'models/manifest.json'), 'utf8'));
// The model the page opens with, and the size of its input (the seed, p and the exports).
const DEFAULT = manifest.models.find((m) => m.id === manifest.default_model);
const SIDE = DEFAULT.input_size;
// The fast preview, made smaller still: SwiftShader takes about a minute per iteration at b 8.
const BATCH = 4;
const SAMPLES = 8;
// The native CLI that replays the page's link (the Makefile passes its debug build).
const A2X_BIN = process.env.A2X_BIN;

// Records every state the model panel goes through, the largest progress value seen, and every
// long task (over 50 ms) of the page's thread as [start, duration] in ms.
const RECORD_MODEL_STATES = () => {
  window.__longTasks = null;
  try {
    new PerformanceObserver((list) => { for (const e of list.getEntries()) window.__longTasks.push([e.startTime, e.duration]); })
      .observe({ type: 'longtask', buffered: true });
    window.__longTasks = [];
  } catch (e) { console.log(`no longtask observer: ${e}`); }
  // Long animation frames name the scripts that ran in them, so a failure says what held the thread.
  window.__longFrames = [];
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        const scripts = e.scripts.map((s) => `${s.invoker || s.invokerType} ${s.sourceFunctionName || ''} ${s.duration.toFixed(0)} ms`);
        window.__longFrames.push([e.startTime, e.duration, e.renderStart ? e.startTime + e.duration - e.renderStart : 0, scripts.join('; ')]);
      }
    }).observe({ type: 'long-animation-frame', buffered: true });
  } catch (e) { console.log(`no long-animation-frame observer: ${e}`); }
  window.__modelStates = [];
  window.__progress = [];
  new MutationObserver(() => {
    const panel = document.querySelector('#model');
    const state = panel && panel.getAttribute('data-state');
    if (state && window.__modelStates[window.__modelStates.length - 1] !== state) window.__modelStates.push(state);
    const bar = document.querySelector('#model-progress');
    if (bar) window.__progress.push([Number(bar.getAttribute('value')), Number(bar.getAttribute('max'))]);
  }).observe(document, { subtree: true, childList: true, attributes: true });
};

// The local server is too fast to watch a progress bar: Chromium's network emulation slows the
// model files so that the default model takes about 2.5 s (0.5 MB/s for SqueezeNet's 1.3 MB), as a
// slow real connection would: at 1.2 s the bar moved only three times in one run. Only the model
// files: the page's and the worker's debug wasm (15 and 46 MB) slowed too took 2 min a page.
async function throttle(page, context) {
  const cdp = await context.newCDPSession(page);
  page.__cdp = cdp;
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditionsByRule', {
    matchedNetworkConditions: [{
      urlPattern: '*://*:*/models/*.a2xm', latency: 20, downloadThroughput: DEFAULT.file_bytes / 2.5, uploadThroughput: 1e6,
    }],
  });
}

// The seed editor and D̄: a file as the seed, a brush stroke with undo/redo, and the visitor's
// photos (a real one and a broken one, which must be refused with a message).
async function editorChecks(page, label) {
  const samples = path.join(__dirname, '../../static/samples');
  const pixels = () => page.evaluate(() => {
    const canvas = document.querySelector('#seed-canvas');
    return Array.from(canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data);
  });
  const previous = await pixels();
  await page.setInputFiles('#seed-file', path.join(samples, 'rocket.jpg'));
  await page.waitForFunction(() => document.querySelector('#seed h3 + p')?.textContent.includes('rocket.jpg'));
  const fromFile = await pixels();
  const differing = fromFile.filter((v, i) => v !== previous[i]).length;
  check(`${label}: an image file became the seed (named on the page, ${differing} of ${fromFile.length} canvas values changed)`,
    (await page.textContent('#seed h3 + p')).includes('rocket.jpg') && fromFile.length === previous.length && differing > fromFile.length / 4);
  // Pixels that differ between two RGBA arrays, and whether all of them became `rgb`.
  const changed = (a, b, rgb) => {
    let n = 0; let all = true;
    for (let i = 0; i < a.length; i += 4) {
      if (a[i] !== b[i] || a[i + 1] !== b[i + 1] || a[i + 2] !== b[i + 2]) {
        n++;
        if (rgb && (b[i] !== rgb[0] || b[i + 1] !== rgb[1] || b[i + 2] !== rgb[2])) all = false;
      }
    }
    return { n, all };
  };
  const before = await pixels();
  await strokeAcross(page, '#seed-canvas', [0.2, 0.5], [0.8, 0.5]);
  await page.waitForFunction(() => document.querySelector('#seed h3 + p')?.textContent.includes('(edited)'));
  const drawn = await pixels();
  // A 6 px brush across 60% of a 224–227 px canvas paints about 6 × 134 ≈ 800 pixels, all in the
  // brush colour (#dc2828).
  const stroke = changed(before, drawn, [220, 40, 40]);
  check(`${label}: a brush stroke painted ${stroke.n} pixels in the brush colour`, stroke.n > 500 && stroke.n < 2000 && stroke.all);
  await page.click('#undo');
  check(`${label}: undo restores the seed exactly`, changed(before, await pixels()).n === 0);
  await page.click('#redo');
  check(`${label}: redo repeats the stroke exactly`, changed(drawn, await pixels()).n === 0);

  const count = async () => Number((await page.textContent('#distribution-count')).match(/^(\d+)/)[1]);
  const photos = await count();
  await page.setInputFiles('#photos-file', [
    { name: 'coffee.png', mimeType: 'image/png', buffer: fs.readFileSync(path.join(samples, 'coffee.png')) },
    { name: 'broken.png', mimeType: 'image/png', buffer: Buffer.from('\x89PNG\r\n\x1a\nthis is not a PNG') },
    { name: 'huge.png', mimeType: 'image/png', buffer: pngHeader(20000, 20000) },
  ]);
  await page.waitForFunction((n) => Number(document.querySelector('#distribution-count').textContent.match(/^(\d+)/)[1]) > n, photos);
  check(`${label}: your own photo joined D̄ (${photos} → ${await count()})`, await count() === photos + 1);
  const errors = await page.$$eval('#distribution .error', (nodes) => nodes.map((n) => n.textContent));
  check(`${label}: the broken file was refused with a message ("${errors[0]}")`, errors.length === 2 && /broken\.png/.test(errors[0]));
  check(`${label}: a 20000×20000 header was refused by its size before any decoding ("${errors[1]}")`, /huge\.png: 20000×20000 pixels is not a size/.test(errors[1]));
  check(`${label}: a thumbnail shows your photo`, (await page.$$('#distribution img.own')).length === 1);
}

// A PNG claiming w×h RGB pixels (1.6 GB at 20000²) with a single row's worth of data: before
// issue #23 the page handed such a file to the browser's decoder before looking at its size.
function pngHeader(w, h) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const chunk = (kind, data) => {
    const body = Buffer.concat([Buffer.from(kind, 'latin1'), data]);
    const length = Buffer.alloc(4); length.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4); crc.writeUInt32BE(zlib.crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  return Buffer.concat([Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'), chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(Buffer.alloc(64))), chunk('IEND', Buffer.alloc(0))]);
}

// The paper's cross-model check: every model of the zoo classifies p (downloading Lite1/Lite2).
async function crossCheck(page, label) {
  await page.click('#cross-check');
  await page.waitForSelector('#cross-table, #result .error', { timeout: TIMEOUT });
  const rows = await page.$$eval('#cross-table tr', (trs) => trs.slice(1).map((tr) => [...tr.children].map((c) => c.textContent)));
  const ranks = rows.map((r) => Number(r[1].split(' ')[0]));
  const models = JSON.parse(fs.readFileSync(path.join(__dirname, '../../models/manifest.json'), 'utf8')).models.length;
  check(`${label}: cross-model check has a row per model of the zoo (${models}: ${rows.map((r) => `${r[0]}: ${r[1]}`).join('; ')})`,
    rows.length === models && rows.some((r) => /computed p/.test(r[0])) && rows.some((r) => /another family/.test(r[0])) && ranks.every((k) => Number.isInteger(k) && k >= 1 && k <= 1000));
}

// A PNG's width and height, after checking its signature, its IHDR and every chunk's CRC.
function pngSize(bytes) {
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  if (!bytes.subarray(0, 8).equals(signature)) throw new Error('no PNG signature');
  let offset = 8; let size = null; let ended = false; const idat = [];
  while (offset < bytes.length) {
    const length = bytes.readUInt32BE(offset);
    const type = bytes.subarray(offset + 4, offset + 8).toString('latin1');
    const data = bytes.subarray(offset + 8, offset + 8 + length);
    const crc = bytes.readUInt32BE(offset + 8 + length);
    if (zlib.crc32 && zlib.crc32(bytes.subarray(offset + 4, offset + 8 + length)) !== crc) throw new Error(`bad CRC in ${type}`);
    if (type === 'IHDR') size = [data.readUInt32BE(0), data.readUInt32BE(4)];
    if (type === 'IDAT') idat.push(data);
    if (type === 'IEND') { ended = true; break; }
    offset += 12 + length;
  }
  if (!size || !ended) throw new Error('missing IHDR or IEND');
  const raw = zlib.inflateSync(Buffer.concat(idat)); // throws on corrupt image data
  return { width: size[0], height: size[1], rawBytes: raw.length };
}

async function download(page, selector) {
  const [file] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), page.click(selector)]);
  return { name: file.suggestedFilename(), bytes: fs.readFileSync(await file.path()) };
}

async function runJson(page) {
  return JSON.parse(await page.textContent('#run-json'));
}

// Statistics of a canvas's pixels, read in the page.
async function canvasStats(page, selector) {
  return page.evaluate((sel) => {
    const canvas = document.querySelector(sel);
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let min = 255; let max = 0; let sum = 0; let sumSq = 0; let n = 0;
    for (let i = 0; i < data.length; i += 4) {
      for (let c = 0; c < 3; c++) { const v = data[i + c]; min = Math.min(min, v); max = Math.max(max, v); sum += v; sumSq += v * v; n++; }
    }
    const mean = sum / n;
    return { width: canvas.width, height: canvas.height, min, max, mean, std: Math.sqrt(sumSq / n - mean * mean) };
  }, selector);
}

async function explainRun(page, label, iterations) {
  await page.waitForSelector('#model[data-state="ready"], #model[data-state="failed"]', { timeout: TIMEOUT });
  check(`${label}: ${DEFAULT.id} loaded`, await page.getAttribute('#model', 'data-state') === 'ready', await page.textContent('#model'));
  const states = await page.evaluate(() => window.__modelStates);
  const progress = await page.evaluate(() => window.__progress);
  check(`${label}: the download showed a progress bar (states ${states.join(' → ')})`, states.includes('downloading') && progress.length > 0);
  const seen = [...new Set(progress.map(([value]) => value))];
  const totals = [...new Set(progress.map(([, max]) => max))];
  check(`${label}: the bar counted up to the manifest's ${DEFAULT.file_bytes} bytes (${seen.length} values seen, totals ${totals})`,
    seen.length >= 3 && totals.length === 1 && totals[0] === DEFAULT.file_bytes && seen.every((v, i) => i === 0 || v > seen[i - 1]));
  // The slow connection was for watching the bar: the other models (the cross-model check) come at
  // the local server's speed.
  if (page.__cdp) await page.__cdp.send('Network.emulateNetworkConditionsByRule', { matchedNetworkConditions: [] });

  await page.fill('#class-search', 'goldf');
  await page.click('#class-1');
  check(`${label}: class picked by search`, await page.getAttribute('#target', 'data-class') === '1');
  await page.click('#sample-coffee');
  await page.waitForFunction(() => document.querySelector('#seed h3 + p')?.textContent.includes('coffee'));
  await page.selectOption('#preset', 'preview');
  check(`${label}: the fast preview says it is one`, await page.isVisible('#preview-notice'));
  await openDisclosure(page, '#advanced');
  await page.fill('#set-iterations', String(iterations));
  await page.fill('#set-batch', String(BATCH));
  await page.fill('#set-samples', String(SAMPLES));
  await page.fill('#set-rng', '1');

  const started = Date.now();
  const runFrom = await page.evaluate(() => performance.now());
  await page.click('#start', { timeout: TIMEOUT });
  await page.waitForSelector('#run[data-state="running"], #run[data-state="finished"], #run[data-state="failed"]', { timeout: TIMEOUT });
  await page.waitForFunction(() => Number(document.querySelector('#run-status')?.dataset.iteration) >= 1, null, { timeout: TIMEOUT });
  // The canvas is put after the render that shows the iteration (`data-drawn` names what it holds).
  await page.waitForSelector('#p-canvas[data-drawn]', { timeout: 60_000 }).catch(() => {});
  const live = await canvasStats(page, '#p-canvas');
  check(`${label}: the perturbation is drawn while the run goes (std ${live.std.toFixed(1)})`, live.std > 1);
  await page.waitForSelector('#run[data-state="finished"], #run[data-state="failed"], #run[data-state="cancelled"]', { timeout: TIMEOUT });
  const seconds = (Date.now() - started) / 1e3;
  await longTasks(page, label, runFrom);
  const state = await page.getAttribute('#run', 'data-state');
  check(`${label}: run finished (${seconds.toFixed(0)} s for ${iterations} iterations)`, state === 'finished',
    state === 'failed' ? await page.textContent('#run-error') : state);
  const run = await runJson(page);
  const curve = run.curve;
  check(`${label}: ℘ per iteration appeared (${curve.map((v) => v.toFixed(4)).join(' ')})`, curve.length === iterations && curve.every(Number.isFinite));
  check(`${label}: ℘ values are probabilities`, curve.every((v) => v >= 0 && v <= 1));
  check(`${label}: ran on ${run.backend}`, label === 'WebGPU' ? run.backend === 'WebGPU' : run.backend.startsWith('CPU'));
  const p = await canvasStats(page, '#p-canvas');
  check(`${label}: perturbation canvas is ${p.width}×${p.height} and not blank (min ${p.min}, max ${p.max}, std ${p.std.toFixed(1)})`,
    p.width === SIDE && p.height === SIDE && p.std > 5 && p.max - p.min > 64);
  await page.waitForSelector('#result ol.top5 li', { timeout: TIMEOUT });
  check(`${label}: seed + p classified`, (await page.$$('#result ol.top5 li')).length === 5);
  await sameAsNative(page, label, curve);

  const png = await download(page, '#export-p');
  let size = null;
  try { size = pngSize(png.bytes); } catch (e) { check(`${label}: exported p is a valid PNG`, false, e.message); }
  if (size) check(`${label}: exported p "${png.name}" is a valid ${SIDE}×${SIDE} PNG (${png.bytes.length} bytes)`, size.width === SIDE && size.height === SIDE);
  const seedPng = await download(page, '#export-seed-p');
  try { size = pngSize(seedPng.bytes); check(`${label}: exported seed + p is a valid ${size.width}×${size.height} PNG`, size.width === SIDE); } catch (e) { check(`${label}: exported seed + p is a valid PNG`, false, e.message); }
  const json = JSON.parse((await download(page, '#export-json')).bytes.toString('utf8'));
  check(`${label}: exported JSON has the settings and the same ℘ curve`,
    json.settings.iterations === iterations && json.settings.batch === BATCH && json.num_samples === SAMPLES && json.target === 1 &&
    json.events.map((e) => e.target_probability).every((v, i) => Math.abs(v - curve[i]) < 1e-4));
  return { curve, seconds };
}

// The page's share link replayed by the native CLI: the same run computed another way (flex
// instead of WebGPU or wasm flex, the \`image\` crate's decoders instead of the browser's). The
// pictures of p (both the stretched view) must agree closely, and ℘ at the first iteration, before
// any ± check could have chosen differently, within 10%.
async function sameAsNative(page, label, curve) {
  if (!A2X_BIN) {
    console.log(`  skip ${label}: the native comparison (A2X_BIN, the a2x binary, is not set; the Makefile sets it)`);
    return;
  }
  await page.click('#copy-link');
  await page.waitForFunction(() => document.querySelector('#share-link')?.value.includes('a2x=1.'), null, { timeout: 60_000 });
  const link = await page.inputValue('#share-link');
  const name = `explain-${label.toLowerCase()}-native`;
  execFileSync(A2X_BIN, ['replay', link, '--backend', 'flex', '--out', outDir, '--name', name], { stdio: ['ignore', 'ignore', 'inherit'] });
  const native = JSON.parse(fs.readFileSync(path.join(outDir, `${name}.json`), 'utf8'));
  const png = fs.readFileSync(path.join(outDir, `${name}-p.png`)).toString('base64');
  const r = await page.evaluate(async (data) => {
    const image = new Image();
    image.src = `data:image/png;base64,${data}`;
    await image.decode();
    const ours = document.querySelector('#p-canvas');
    const canvas = document.createElement('canvas');
    canvas.width = ours.width; canvas.height = ours.height;
    const context = canvas.getContext('2d');
    context.drawImage(image, 0, 0);
    const a = context.getImageData(0, 0, canvas.width, canvas.height).data;
    const b = ours.getContext('2d').getImageData(0, 0, ours.width, ours.height).data;
    if (image.width !== ours.width || a.length !== b.length) return NaN;
    let [sa, sb, saa, sbb, sab, n] = [0, 0, 0, 0, 0, 0];
    for (let i = 0; i < a.length; i++) {
      if (i % 4 === 3) continue;
      sa += a[i]; sb += b[i]; saa += a[i] * a[i]; sbb += b[i] * b[i]; sab += a[i] * b[i]; n++;
    }
    return (sab / n - (sa / n) * (sb / n)) / Math.sqrt((saa / n - (sa / n) ** 2) * (sbb / n - (sb / n) ** 2));
  }, png);
  check(`${label}: p matches the native CLI's replay of the page's link (pixel correlation ${r.toFixed(3)})`, r > 0.9);
  const [ours, theirs] = [curve[0], native.curve[0]];
  check(`${label}: ℘ at iteration 1 matches the native CLI's (${ours.toFixed(4)} vs ${theirs.toFixed(4)}; all ${native.curve.map((v) => v.toFixed(4)).join(' ')})`,
    native.curve.length === curve.length && Math.abs(ours - theirs) <= 0.1 * theirs + 1e-4);
}

// "Benchmark this device": the defaults at b 4 and b 32 on the loaded model, per phase.
async function benchmark(page, label) {
  await page.click('#bench summary');
  await page.click('#bench-run');
  await page.waitForSelector('#bench[data-state="done"], #bench[data-state="failed"]', { timeout: TIMEOUT });
  const report = JSON.parse(await page.textContent('#bench-json'));
  const rows = report.rows;
  const phases = (r) => r.gradient_ms + r.sign_check_ms + r.probability_ms;
  check(`${label}: the benchmark timed b 4 and b 32 on ${report.model}, ${report.backend} (${rows.map((r) => `b ${r.batch}: ${r.total_ms.toFixed(0)} ms/it, phases ${phases(r).toFixed(0)} ms`).join('; ')})`,
    rows.length === 2 && rows[0].batch === 4 && rows[1].batch === 32 && report.backend.startsWith('CPU') &&
    rows.every((r) => r.total_ms > 0 && r.timed === 2 && phases(r) <= r.total_ms * 1.01 && phases(r) >= r.total_ms * 0.5));
  check(`${label}: b 32 costs more per iteration than b 4`, rows.length === 2 && rows[1].total_ms > rows[0].total_ms);
}

// The longest task of the page's own thread since `from` (performance.now()): the engine runs in
// its worker, so none may hold the page for more than 200 ms while a run goes.
async function longTasks(page, label, from) {
  const [longest, count, observed, frames] = await page.evaluate((from) => {
    const tasks = (window.__longTasks || []).filter(([start, duration]) => start + duration >= from);
    const frames = (window.__longFrames || []).filter(([start, duration]) => start + duration >= from)
      .sort((a, b) => b[1] - a[1]).slice(0, 3)
      .map(([, duration, render, scripts]) => `${duration.toFixed(0)} ms frame, ${render.toFixed(0)} ms rendering: ${scripts || 'no script'}`);
    return [tasks.reduce((m, [, d]) => Math.max(m, d), 0), tasks.length, window.__longTasks !== null, frames];
  }, from);
  check(`${label}: the page's thread had no task over 200 ms during the run (${count} over 50 ms, the longest ${longest.toFixed(0)} ms)`,
    observed && longest <= 200, `(longest frames: ${frames.join(' | ')})`);
  if (process.env.A2X_LONG_FRAMES) console.log(`    longest frames: ${frames.join(' | ')}`);
}

// Clicks `button` in the page and measures how long the run panel takes to show `state`.
async function answerMs(page, button, state) {
  return page.evaluate(async ([button, state]) => {
    const t = performance.now();
    document.querySelector(button).click();
    await new Promise((resolve) => {
      const look = () => (document.querySelector('#run')?.dataset.state === state ? resolve() : setTimeout(look, 2));
      look();
    });
    return performance.now() - t;
  }, [button, state]);
}

// Starts a run; after its first iteration pauses, resumes and cancels it, each answered within
// 100 ms; the run stops within one iteration of the cancel.
async function cancelRun(page, label) {
  await openDisclosure(page, '#advanced');
  await page.fill('#set-iterations', '50');
  const runFrom = await page.evaluate(() => performance.now());
  await page.click('#start', { timeout: TIMEOUT });
  await page.waitForFunction(() => Number(document.querySelector('#run-status')?.dataset.iteration) >= 1, null, { timeout: TIMEOUT });
  const scrolled = await page.evaluate(() => { window.scrollTo(0, 400); return window.scrollY; });
  check(`${label}: the page scrolls during a run`, scrolled > 0);
  const pause = await answerMs(page, '#pause', 'paused');
  const resume = await answerMs(page, '#resume', 'running');
  const at = Number(await page.getAttribute('#run-status', 'data-iteration'));
  const cancel = await answerMs(page, '#cancel', 'cancelled');
  // Issue #23 asks for 100 ms. WebGPU here is SwiftShader, a GPU emulated on the same two cores,
  // which it keeps busy during a run: there the bound is 250 ms, still far below the 550–2400 ms
  // the page took before its binaries stopped re-running their constructors on every call.
  const bound = label === 'WebGPU' ? 250 : 100;
  check(`${label}: Pause, Resume and Cancel answer within ${bound} ms during a run (${pause.toFixed(0)}, ${resume.toFixed(0)}, ${cancel.toFixed(0)} ms)`,
    Math.max(pause, resume, cancel) <= bound);
  // The page shows the cancel at once; the worker says when it has really stopped, and how many
  // iterations it still finished after the cancel (at most the one in hand).
  await page.waitForSelector('#run-status[data-engine-stopped]', { timeout: TIMEOUT });
  const late = Number(await page.getAttribute('#run-status', 'data-engine-stopped'));
  const shown = Number(await page.getAttribute('#run-status', 'data-iteration'));
  check(`${label}: cancel stopped the run within one iteration (cancelled at ${at}; the engine finished ${late} more, the page shows ${shown})`,
    await page.getAttribute('#run', 'data-state') === 'cancelled' && late <= 1 && shown <= at + 1);
  await longTasks(page, `${label} (pause, resume, cancel)`, runFrom);
}

const seedPixels = (page) => page.evaluate(() => {
  const canvas = document.querySelector('#seed-canvas');
  return Array.from(canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data);
});

// How many of the seed canvas's values differ from `expected`, once they stop differing or after
// a minute (the page draws a canvas after the render that shows its state).
async function seedDiffers(page, expected) {
  let differ = Infinity;
  for (let i = 0; i < 120 && differ !== 0; i++) {
    if (i > 0) await page.waitForTimeout(500);
    const shown = await seedPixels(page);
    differ = shown.length === expected.length ? shown.filter((v, j) => v !== expected[j]).length : Infinity;
  }
  return differ;
}

// Issue #23 item 3 on the explanation page (CPU backend): a run from an edited seed, uninterrupted;
// then the same run with its worker killed after an iteration and the page reloaded later. The
// run goes on in one new worker, which the page's other work then uses too; after the reload the
// edited seed and the settings are back, the run is offered where it was, and Resume finishes it
// with the uninterrupted run's p and ℘ curve exactly.
async function reloadMidRun(page, label) {
  await openDisclosure(page, '#advanced');
  await page.fill('#set-iterations', '8');
  await strokeAcross(page, '#seed-canvas', [0.3, 0.3], [0.7, 0.7]);
  await page.waitForFunction(() => document.querySelector('#seed h3 + p')?.textContent.includes('(edited)'));
  const drawn = await seedPixels(page);
  const finished = '#run[data-state="finished"], #run[data-state="failed"], #run[data-state="cancelled"]';
  await page.click('#start', { timeout: TIMEOUT });
  await page.waitForSelector('#run[data-state="running"]', { timeout: TIMEOUT });
  await page.waitForSelector(finished, { timeout: TIMEOUT });
  const whole = await runJson(page);
  check(`${label}: the run from the edited seed finished (${whole.curve.length} iterations)`, whole.state === 'finished' && whole.curve.length === 8);

  const iteration = (n) => page.waitForFunction((n) => Number(document.querySelector('#run-status')?.dataset.iteration) >= n, n, { timeout: TIMEOUT });
  const engineWorkers = () => page.workers().filter((w) => w.url().includes('worker'));
  await page.click('#start', { timeout: TIMEOUT });
  await iteration(1);
  // The worker dies (an uncaught error in it: the page sees the worker fail).
  await Promise.all(engineWorkers().map((w) => w.evaluate(() => { setTimeout(() => { throw new Error('killed by the test'); }, 0); }).catch(() => {})));
  await page.waitForSelector('#run-recovered', { timeout: TIMEOUT });
  const recovered = await page.textContent('#run-recovered');
  check(`${label}: the page said the worker died and a new one went on (${recovered})`, /goes on from iteration \d+/.test(recovered));
  // Undo and redo the stroke: the seed's top five are asked of the page's worker, which must be
  // the run's new one, not a third.
  await page.click('#undo');
  await page.click('#redo');
  await page.waitForSelector('#seed-top5 ol.top5 li', { timeout: TIMEOUT }).catch(() => {});
  let workers = engineWorkers().length;
  for (let i = 0; i < 50 && workers !== 1; i++) { await page.waitForTimeout(100); workers = engineWorkers().length; }
  check(`${label}: after the recovery the page has one engine worker (${workers})`, workers === 1);
  await iteration(2);
  const before = Number(await page.getAttribute('#run-status', 'data-iteration'));
  await page.reload({ timeout: 300_000, waitUntil: 'domcontentloaded' });
  await page.waitForSelector('#resume-offer', { timeout: TIMEOUT });
  const offered = Number(await page.getAttribute('#resume-offer', 'data-iteration'));
  check(`${label}: after a reload the page offers to resume the run where it was (iteration ${offered} of 8; the reload came after ${before})`,
    offered >= 1 && offered <= 8);
  const differ = await seedDiffers(page, drawn);
  check(`${label}: the seed edited before the reload is back (${differ} of ${drawn.length} canvas values differ; ${await page.textContent('#seed h3 + p')})`,
    differ === 0 && (await page.textContent('#seed h3 + p')).includes('(edited)'));
  check(`${label}: the settings are back after the reload (iterations ${await page.inputValue('#set-iterations')}, b ${await page.inputValue('#set-batch')})`,
    await page.inputValue('#set-iterations') === '8' && await page.inputValue('#set-batch') === String(BATCH));
  await page.waitForSelector('#resume-run:not([disabled])', { timeout: TIMEOUT });
  await page.screenshot({ path: path.join(outDir, 'explain-resume-offer-cpu-1280.png') });
  await page.click('#resume-run');
  await page.waitForSelector('#run[data-state="running"], ' + finished, { timeout: TIMEOUT });
  await page.waitForSelector(finished, { timeout: TIMEOUT });
  const resumed = await runJson(page);
  check(`${label}: Resume finished the run with the uninterrupted run's p exactly (${resumed.p_fingerprint} vs ${whole.p_fingerprint})`,
    resumed.state === 'finished' && resumed.p_fingerprint === whole.p_fingerprint && resumed.seed_fingerprint === whole.seed_fingerprint);
  check(`${label}: and with its ℘ curve exactly`, JSON.stringify(resumed.curve) === JSON.stringify(whole.curve),
    `${resumed.curve} vs ${whole.curve}`);
  check(`${label}: nothing is offered once the run ended`, !(await page.$('#resume-offer')));
  await page.screenshot({ path: path.join(outDir, 'explain-resumed-cpu-1280.png'), fullPage: true });
}

(async () => {
  fs.mkdirSync(outDir, { recursive: true });
  const server = await serve(dist, 0);
  const url = `http://127.0.0.1:${server.address().port}/`;
  console.log(`e2e explain: ${url}`);
  const results = {};
  try {
    for (const [label, flags, hash, iterations] of [
      ['WebGPU', ['--enable-unsafe-webgpu'], '', 3],
      ['CPU', ['--enable-unsafe-webgpu'], '#backend=cpu', 3],
    ]) {
      console.log(`Explanation on ${label}:`);
      const errors = await withBrowser(flags, url + hash, async (page) => {
        results[label] = await explainRun(page, label, iterations);
        await page.screenshot({ path: path.join(outDir, `explain-${label.toLowerCase()}-1280.png`), fullPage: true });
        if (label === 'WebGPU') {
          await editorChecks(page, label);
          await cancelRun(page, label);
        } else {
          // The cross-model check's page is the same on both backends, and app.cjs runs every
          // model of the zoo on WebGPU: here it runs on the CPU, a minute less on SwiftShader.
          await crossCheck(page, label);
          await cancelRun(page, label);
          // On SwiftShader b 32 takes minutes an iteration; flex on the CPU, seconds.
          await benchmark(page, label);
        }
        const ownSeed = await seedPixels(page);
        if (label === 'CPU') {
          // The page is reloaded in the middle of a run (and the model then comes from the cache).
          await reloadMidRun(page, label);
        } else {
          await page.reload({ timeout: 300_000, waitUntil: 'domcontentloaded' });
        }
        // A reload takes the model from Cache Storage: no second download.
        await page.waitForSelector('#model[data-state="ready"], #model[data-state="failed"]', { timeout: TIMEOUT });
        const info = await page.textContent('#model');
        check(`${label}: after a reload the model comes from the browser's cache`, /from this browser's cache/.test(info), info);
        if (label === 'WebGPU') {
          // What the editor checks left: the visitor's own image as the seed, drawn on, and their
          // photo in D̄ (kept as the file they chose) are back after the reload.
          await page.waitForFunction(() => document.querySelectorAll('#distribution img.own').length > 0, null, { timeout: 60_000 }).catch(() => {});
          const differ = await seedDiffers(page, ownSeed);
          check(`${label}: after a reload the seed from your own image is back with its stroke (${await page.textContent('#seed h3 + p')}; ${differ} canvas values differ)`,
            (await page.textContent('#seed h3 + p')).includes('rocket.jpg') && differ === 0);
          check(`${label}: after a reload your own photo is back in D̄`, (await page.$$('#distribution img.own')).length === 1);
        }
      }, { init: RECORD_MODEL_STATES, beforeGoto: throttle });
      errors.forEach((e) => check(`${label}: no browser errors`, false, e));
    }

    // The same run on both backends: the same RNG seed, settings and seed image, so ℘ at the first
    // iteration (before any ± choice can differ) agrees within float32 differences between kernels.
    if (results.WebGPU && results.CPU) {
      const [g, c] = [results.WebGPU.curve, results.CPU.curve];
      const gap = Math.abs(g[0] - c[0]) / Math.max(g[0], c[0]);
      check(`WebGPU and CPU: ℘ at iteration 1 agrees within 10% (${g[0].toFixed(4)} vs ${c[0].toFixed(4)}; whole curves ${g.map((v) => v.toFixed(4))} vs ${c.map((v) => v.toFixed(4))})`,
        g.length === c.length && gap <= 0.1);
    }
    // The page a teacher meets (issue #22 item 5), at a laptop's and a phone's size: model, class,
    // seed and Run above the fold before any scrolling, the settings beyond the preset and the
    // diagnostics folded away. `explain-fold-*.png` is exactly what the visitor sees first.
    for (const [width, height] of [[1280, 800], [390, 844]]) {
      console.log(`The first screen at ${width}×${height}:`);
      const errors = await withBrowser(['--enable-unsafe-webgpu'], url, async (page) => {
        await page.waitForSelector('#model[data-state="ready"]', { timeout: TIMEOUT });
        await page.waitForFunction(() => document.querySelector('#seed h3 + p')?.textContent.includes('“'));
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        check(`${width} px: no horizontal scrolling (overflow ${overflow} px)`, overflow <= 0);
        const fold = await page.evaluate(() => {
          const box = (sel) => { const r = document.querySelector(sel).getBoundingClientRect(); return { top: r.top, bottom: r.bottom, height: r.height }; };
          const start = document.querySelector('#start').getBoundingClientRect();
          const hit = document.elementFromPoint(start.left + start.width / 2, start.top + start.height / 2);
          return { h: window.innerHeight, scrolled: window.scrollY, model: box('#model'), class: box('#class'), seed: box('#seed-canvas'),
            start: box('#start'), startOnTop: hit && hit.closest('#start') !== null };
        });
        const shown = (b) => Math.max(0, Math.min(b.bottom, fold.h) - Math.max(b.top, 0));
        check(`${width} px: the page opens unscrolled`, fold.scrolled === 0);
        check(`${width} px: the model choice is on the first screen (top ${fold.model.top.toFixed(0)} of ${fold.h})`,
          fold.model.top >= 0 && shown(fold.model) >= Math.min(fold.model.height, 40));
        check(`${width} px: the class is on the first screen (top ${fold.class.top.toFixed(0)})`,
          fold.class.top >= 0 && shown(fold.class) >= Math.min(fold.class.height, 60));
        const seedShown = shown(fold.seed) / fold.seed.height;
        check(`${width} px: the seed is on the first screen (${(100 * seedShown).toFixed(0)}% of its ${fold.seed.height.toFixed(0)} px canvas; aim ≥ ${width > 560 ? 100 : 60}%)`,
          seedShown >= (width > 560 ? 0.999 : 0.6));
        check(`${width} px: Run is on the first screen, uncovered (${fold.start.top.toFixed(0)}–${fold.start.bottom.toFixed(0)})`,
          fold.start.top >= 0 && fold.start.bottom <= fold.h && fold.startOnTop);
        check(`${width} px: the preset is visible beside Run`, await page.isVisible('#preset'));
        check(`${width} px: the other settings are folded under Advanced`, !await page.isVisible('#set-eta') && await page.$('#advanced #set-eta') !== null);
        check(`${width} px: no diagnostics on the main path (limits, zoo, probe folded)`,
          await page.$('#diagnostics #zoo') !== null && await page.$('#diagnostics #probe') !== null &&
          !(await page.isVisible('#zoo')) && !(await page.isVisible('#probe')) && !(await page.isVisible('#limits')));
        if (width < 560) {
          const canvas = fold.seed.height;
          check(`the seed canvas fits the phone (${canvas.toFixed(0)} px wide)`, canvas > 200 && canvas <= 390);
        }
        await page.screenshot({ path: path.join(outDir, `explain-fold-${width}.png`) });
        if (width < 560) await page.screenshot({ path: path.join(outDir, 'explain-phone-390.png'), fullPage: true });
      }, { viewport: { width, height } });
      errors.forEach((e) => check(`${width} px: no browser errors`, false, e));
    }
  } catch (e) {
    check('end-to-end run completed', false, e.stack || String(e));
  } finally {
    server.close();
  }
  fs.writeFileSync(path.join(outDir, 'explain-results.json'), JSON.stringify(results, null, 1));
  finish('e2e (explain)');
})();
