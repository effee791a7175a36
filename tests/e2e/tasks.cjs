// End-to-end test of the image tasks on CIFAR-10 (issue #6) in a real headless Chromium on WebGPU
// (SwiftShader): the task switch opens Sketch on SqueezeNet, the set switch goes to the robust CIFAR-10 model, the standard one and the class Gaussians
// download; strokes drawn with the mouse on the sketch canvas change it and the 32×32 seed; a few
// iterations of A2X and PGD run side by side, and then
//   - both output canvases differ from the seed (the pictures changed),
//   - the robust model's target probability rose for both methods (final > the seed's),
//   - one value per iteration was reported for each method, and a PNG can be saved;
// Generate runs a few iterations from a Gaussian sample the same way; on Inpaint a stroke on the
// mask canvas grows the hole and a short run ends. On the CPU backend, runs survive (issue #23):
//   - the engine's worker is killed in the middle of a Sketch run; a new one goes on from the last
//     checkpoint and the run ends with exactly the pictures and curves of an uninterrupted run,
//   - the page is reloaded in the middle of a run; it comes back on the Sketch tab with the
//     visitor's sketch, offers to resume, and Resume ends with the same pictures and curves.
// Screenshots go to OUT_DIR.
//
//   node tests/e2e/tasks.cjs DIST_DIR OUT_DIR
'use strict';
const fs = require('fs');
const path = require('path');
const { serve } = require('../../scripts/serve.cjs');
const { check, withBrowser, finish, strokeAcross, pixels, readTaskRun } = require('./lib.cjs');

const [dist, outDir] = process.argv.slice(2);
const TIMEOUT = 600_000; // SwiftShader is CPU-speed
const ITERATIONS = 4;

// How many pixels differ between two RGBA arrays, and the mean absolute difference per channel.
function difference(a, b) {
  let n = 0; let sum = 0;
  for (let i = 0; i < Math.min(a.length, b.length); i += 4) {
    let d = 0;
    for (let c = 0; c < 3; c++) d += Math.abs(a[i + c] - b[i + c]);
    if (d > 0) n++;
    sum += d;
  }
  return { n, mean: sum / (3 * (a.length / 4)) };
}

async function setField(page, selector, value) {
  await page.fill(selector, String(value));
}

// Small settings so SwiftShader finishes in seconds: a few iterations, a small D̄, the ± check on
// the mini-batch; budget and step as the defaults.
async function quickSettings(page, { iterations = ITERATIONS, samples = 16, batch = 8 } = {}) {
  await setField(page, '#task-iterations', iterations);
  await setField(page, '#task-samples', samples);
  await setField(page, '#task-batch', batch);
  await page.selectOption('#task-sign-check', 'batch');
}

async function runAndRead(page, label) {
  await page.click('#task-start', { timeout: TIMEOUT });
  return readRun(page, label);
}

// The shown task run once it ended (checked to have finished), as its JSON summary.
const readRun = (page, label) => readTaskRun(page, label, TIMEOUT);

// PGD reports every iteration; A2X too, or ends early only as Algorithm 1 says: with the stop on,
// at the first ℘ ≥ γ.
function iterationChecks(label, run, iterations) {
  const a2x = run.a2x_target_probability;
  const pgd = run.pgd_target_probability;
  const samples = run.a2x_samples_probability;
  const gamma = run.settings.run.gamma;
  const stoppedAtGamma = run.settings.run.stop_at_gamma === true && samples.length < iterations
    && samples[samples.length - 1] >= gamma && samples.slice(0, -1).every((v) => v < gamma);
  check(`${label}: PGD reported every iteration, A2X every one until ℘ ≥ γ (${a2x.length}, ${pgd.length}; ℘ ${samples.map((v) => v.toFixed(3)).join(', ')})`,
    (a2x.length === iterations || stoppedAtGamma) && samples.length === a2x.length && pgd.length === iterations);
}

function probabilityChecks(label, run, iterations = ITERATIONS) {
  iterationChecks(label, run, iterations);
  const seed = run.seed.robust.target_probability;
  check(`${label}: A2X raised the target probability (${seed.toFixed(4)} → ${run.a2x.robust.target_probability.toFixed(4)})`,
    run.a2x.robust.target_probability > seed);
  check(`${label}: PGD raised the target probability (${seed.toFixed(4)} → ${run.pgd.robust.target_probability.toFixed(4)})`,
    run.pgd.robust.target_probability > seed);
}

async function sketchScenario(page) {
  await page.click('#tab-sketch');
  check('Sketch: the tasks open on an ImageNet model (SqueezeNet)', await page.getAttribute('#tasks', 'data-set') === 'squeezenet');
  // The CIFAR-10 tasks are one switch away.
  await page.click('#set-cifar-robust');
  await page.waitForSelector('#tasks[data-set="cifar-robust"]');
  await page.waitForSelector('#task-models[data-state="ready"], #task-models[data-state="failed"]', { timeout: TIMEOUT });
  check('Sketch: the robust and standard models and the Gaussians loaded', await page.getAttribute('#task-models', 'data-state') === 'ready',
    await page.textContent('#task-models'));
  check('Sketch: the explanation page is hidden', await page.isHidden('#explain-page'));
  await page.click('#cifar-class-8');
  check('Sketch: target ship', await page.getAttribute('#task-target', 'data-class') === '8');

  // A new drawing: clear, then sky, sea and a hull, stroke by stroke with the mouse.
  await page.click('#sketch-clear');
  const blank = await pixels(page, '#sketch-canvas');
  check('Sketch: clear makes the canvas white', blank.every((v, i) => i % 4 === 3 || v === 255));
  const stroke = async (colour, size, from, to) => {
    await page.click(`#swatch-${colour}`);
    // A range input cannot be filled: set it and send the input event the page listens to.
    await page.$eval('#sketch-size', (el, v) => { el.value = v; el.dispatchEvent(new Event('input', { bubbles: true })); }, String(size));
    await strokeAcross(page, '#sketch-canvas', from, to, 10);
  };
  for (const y of [0.1, 0.25, 0.4]) await stroke('sky', 96, [0.02, y], [0.98, y]);
  for (const y of [0.65, 0.8, 0.95]) await stroke('sea', 96, [0.02, y], [0.98, y]);
  const beforeHull = await pixels(page, '#sketch-canvas');
  await stroke('grey', 40, [0.2, 0.6], [0.8, 0.6]);
  const drawn = await pixels(page, '#sketch-canvas');
  const changed = difference(blank, drawn);
  check(`Sketch: the strokes painted the canvas (${changed.n} of ${drawn.length / 4} pixels)`, changed.n > drawn.length / 8);
  const seedPreview = await pixels(page, '#task-seed-nearest');
  const colours = new Set();
  for (let i = 0; i < seedPreview.length; i += 4) colours.add(seedPreview.slice(i, i + 3).join(','));
  check(`Sketch: the 32×32 seed shows the drawing (${colours.size} colours)`, seedPreview.length === 32 * 32 * 4 && colours.size >= 3);
  await page.click('#sketch-undo');
  const undone = await pixels(page, '#sketch-canvas');
  check(`Sketch: undo takes the last stroke back exactly (the hull painted ${difference(beforeHull, drawn).n} pixels; ${difference(beforeHull, undone).n} differ after undo)`,
    difference(beforeHull, drawn).n > 100 && difference(beforeHull, undone).n === 0);
  await page.click('#sketch-redo');
  check('Sketch: redo puts it back exactly', difference(drawn, await pixels(page, '#sketch-canvas')).n === 0);

  await quickSettings(page);
  const run = await runAndRead(page, 'Sketch');
  const seed = await pixels(page, '#task-seed-nearest');
  const a2x = await pixels(page, '#task-a2x-nearest');
  const pgd = await pixels(page, '#task-pgd-nearest');
  const a2xChange = difference(seed, a2x);
  const pgdChange = difference(seed, pgd);
  check(`Sketch: the A2X canvas changed (${a2xChange.n} pixels, mean |Δ| ${a2xChange.mean.toFixed(2)} levels)`, a2xChange.n > 100);
  check(`Sketch: the PGD canvas changed (${pgdChange.n} pixels, mean |Δ| ${pgdChange.mean.toFixed(2)} levels)`, pgdChange.n > 100);
  const smooth = difference(a2x, await pixels(page, '#task-a2x-smooth'));
  check('Sketch: the smooth view holds the same 32×32 picture', smooth.n === 0);
  probabilityChecks('Sketch', run);
  const [file] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), page.click('#task-a2x-save')]);
  const png = fs.readFileSync(await file.path());
  check(`Sketch: “Save PNG” gives a 256×256 PNG (${file.suggestedFilename()})`,
    png.subarray(1, 4).toString() === 'PNG' && png.readUInt32BE(16) === 256 && png.readUInt32BE(20) === 256);
  await page.screenshot({ path: path.join(outDir, 'tasks-sketch-1280.png'), fullPage: true });
  return run;
}

async function generateScenario(page) {
  await page.click('#tab-generate');
  await page.waitForSelector('#tasks[data-task="generate"]');
  await page.click('#cifar-class-7');
  await quickSettings(page);
  const run = await runAndRead(page, 'Generate');
  check('Generate: target horse', run.target === 7 && run.task === 'generate');
  probabilityChecks('Generate', run);
  await page.screenshot({ path: path.join(outDir, 'tasks-generate-1280.png'), fullPage: true });
  return run;
}

async function inpaintScenario(page) {
  await page.click('#tab-inpaint');
  await page.waitForSelector('#mask-canvas');
  await page.waitForFunction(() => document.querySelector('#inpaint p.muted')?.textContent.includes('chelsea'));
  const before = Number(await page.getAttribute('#hole-size', 'data-pixels'));
  check(`Inpaint: the hole starts as the central 10×10 square (${before} pixels)`, before === 100);
  await strokeAcross(page, '#mask-canvas', [0.1, 0.15], [0.5, 0.15], 6);
  // The page redraws on its next turn: wait for it (up to 10 s) rather than read at once.
  const holeSize = (n, more) => page.waitForFunction(([n, more]) => {
    const pixels = Number(document.querySelector('#hole-size')?.getAttribute('data-pixels'));
    return more ? pixels > n : pixels === n;
  }, [n, more], { timeout: 10_000 }).then(() => true, () => false);
  await holeSize(before + 20, true);
  const after = Number(await page.getAttribute('#hole-size', 'data-pixels'));
  check(`Inpaint: a stroke on the mask grows the hole (${before} → ${after} pixels)`, after > before + 20);
  await page.click('#reset-hole');
  check('Inpaint: “Central 10×10 hole” resets it', await holeSize(100, false));
  check('Inpaint: A2X stops at ℘ ≥ γ by default (Algorithm 1 alone, as the paper runs it here)', await page.isChecked('#task-stop-at-gamma'));
  const constraint = await page.inputValue('#task-hole-constraint');
  check(`Inpaint: A2X keeps to the hole by Eq. 4's penalty by default (${constraint})`, constraint === 'penalty');
  const form = await page.inputValue('#task-hole-penalty');
  check(`Inpaint: the penalty outside the hole is Santurkar et al.'s mean of squares by default (${form})`, form === 'mean-square');
  const fill = await page.inputValue('#task-inpaint-seed');
  check(`Inpaint: the seed's hole is filled with the class's Gaussian given the rest by default (${fill})`, fill === 'class-mean');
  const drawn = await page.inputValue('#task-inpaint-samples');
  check(`Inpaint: A2X's D̄ is whole images of the class by default (${drawn})`, drawn === 'class');
  await quickSettings(page);
  // The run takes D̄ from this image's context (the conditional Gaussian), so the browser covers that path.
  await page.selectOption('#task-inpaint-samples', 'context');
  const run = await runAndRead(page, 'Inpaint');
  check('Inpaint: the run used the context samples', run.settings.inpaint_samples === 'context', JSON.stringify(run.settings.inpaint_samples));
  check('Inpaint: the run started from the class-mean seed', run.settings.inpaint_seed === 'class-mean', JSON.stringify(run.settings.inpaint_seed));
  probabilityChecks('Inpaint', run);
  // Both attacks changed the hole: the central 10×10 square (rows and columns 11–20 of 32). Outside
  // it Eq. 4's penalty only pulls p back once p is there, so in a few iterations the outside moves
  // about as much (tests/cifar.rs checks each way of keeping to the hole on the model itself).
  const seed = await pixels(page, '#task-seed-nearest');
  for (const [name, selector] of [['A2X', '#task-a2x-nearest'], ['PGD', '#task-pgd-nearest']]) {
    const result = await pixels(page, selector);
    const [inside, outside] = [[0, 0], [0, 0]];
    for (let i = 0; i < 32 * 32; i++) {
      const [y, x] = [Math.floor(i / 32), i % 32];
      const d = [0, 1, 2].reduce((sum, c) => sum + Math.abs(seed[4 * i + c] - result[4 * i + c]), 0) / 3;
      const where = y >= 11 && y < 21 && x >= 11 && x < 21 ? inside : outside;
      where[0] += d; where[1] += 1;
    }
    const [meanIn, meanOut] = [inside[0] / inside[1], outside[0] / outside[1]];
    check(`Inpaint: ${name} changed the hole (mean |Δ| ${meanIn.toFixed(2)} levels inside, ${meanOut.toFixed(2)} outside; aim inside ≥ 1)`,
      seed.length === 32 * 32 * 4 && inside[1] === 100 && meanIn >= 1);
  }
  await page.screenshot({ path: path.join(outDir, 'tasks-inpaint-1280.png'), fullPage: true });
  return run;
}

// The pictures (their fingerprints) and curves a run ended with: what must not change when the run
// lost its worker or the page on the way.
function outcome(run) {
  return JSON.stringify([run.a2x_fingerprint, run.pgd_fingerprint, run.a2x_target_probability, run.a2x_samples_probability, run.pgd_target_probability]);
}

// Waits until the shown run has done at least `n` iterations.
async function untilIteration(page, n) {
  await page.waitForFunction((n) => Number(document.querySelector('#task-run')?.dataset.iteration) >= n, n, { timeout: TIMEOUT });
  return Number(await page.getAttribute('#task-run', 'data-iteration'));
}

// Issue #23 item 3 on the CPU backend: a Sketch run uninterrupted, the same run with its worker
// killed after an iteration, and again with the page reloaded in the middle.
async function crashProofScenario(page, url) {
  await page.click('#tab-sketch');
  await page.waitForSelector('#task-models[data-state="ready"], #task-models[data-state="failed"]', { timeout: TIMEOUT });
  await page.click('#cifar-class-8');
  await page.click('#swatch-red');
  await strokeAcross(page, '#sketch-canvas', [0.2, 0.5], [0.8, 0.55]);
  const drawn = await pixels(page, '#sketch-canvas');
  await quickSettings(page, { iterations: 12, samples: 4, batch: 4 });
  const whole = await runAndRead(page, 'CPU Sketch, uninterrupted');

  // The worker dies after an iteration (an uncaught error in it: the page sees the worker fail).
  await page.click('#task-start', { timeout: TIMEOUT });
  const at = await untilIteration(page, 2);
  const workers = page.workers().filter((w) => w.url().includes('worker'));
  check(`CPU: the run goes on in the engine's web worker (${workers.map((w) => w.url()).join(', ')})`, workers.length >= 1);
  await Promise.all(workers.map((w) => w.evaluate(() => { setTimeout(() => { throw new Error('killed by the test'); }, 0); }).catch(() => {})));
  const killed = await readRun(page, 'CPU Sketch, worker killed');
  const recovered = await page.$$eval('#task-run-recovered li', (items) => items.map((li) => li.textContent));
  check(`CPU: the page said the worker died and a new one went on (after iteration ${at}: ${recovered.join(' | ')})`,
    recovered.length === 1 && /goes on from iteration \d+/.test(recovered[0]));
  check('CPU: the run whose worker was killed ended with exactly the uninterrupted run\'s pictures and curves',
    outcome(killed) === outcome(whole), `${outcome(killed)} vs ${outcome(whole)}`);

  // A reload in the middle: the sketch is still there, the run is offered, and Resume finishes it.
  await page.click('#task-start', { timeout: TIMEOUT });
  const before = await untilIteration(page, 2);
  await page.reload({ timeout: 300_000, waitUntil: 'domcontentloaded' });
  await page.waitForSelector('#resume-offer', { timeout: TIMEOUT });
  check(`CPU: after a reload the page is back on the Sketch tab (${await page.evaluate(() => location.hash)})`,
    await page.getAttribute('#tasks', 'data-task') === 'sketch');
  const offered = Number(await page.getAttribute('#resume-offer', 'data-iteration'));
  check(`CPU: the page offers to resume the run where it was (iteration ${offered}; the reload came after ${before})`, offered >= 1 && offered <= 12);
  await page.waitForFunction(() => {
    const canvas = document.querySelector('#sketch-canvas');
    const data = canvas && canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    return data && data.some((v, i) => i % 4 === 0 && v > 150 && data[i + 1] < 100);
  }, null, { timeout: 60_000 }).catch(() => {});
  const kept = difference(drawn, await pixels(page, '#sketch-canvas'));
  check(`CPU: the sketch drawn before the reload is still there (${kept.n} pixels differ)`, kept.n === 0);
  await page.waitForSelector('#resume-run:not([disabled])', { timeout: TIMEOUT });
  await page.click('#resume-run');
  const resumed = await readRun(page, 'CPU Sketch, resumed after a reload');
  check('CPU: the resumed run ended with exactly the uninterrupted run\'s pictures and curves',
    outcome(resumed) === outcome(whole), `${outcome(resumed)} vs ${outcome(whole)}`);
  check('CPU: nothing is offered once the run ended', !(await page.$('#resume-offer')));
  await page.screenshot({ path: path.join(outDir, 'tasks-resumed-cpu-1280.png'), fullPage: true });
}

(async () => {
  fs.mkdirSync(outDir, { recursive: true });
  const server = await serve(dist, 0);
  const url = `http://127.0.0.1:${server.address().port}/`;
  console.log(`e2e tasks: ${url}`);
  const results = {};
  try {
    console.log('Image tasks on WebGPU:');
    const errors = await withBrowser(['--enable-unsafe-webgpu'], url, async (page) => {
      await page.waitForSelector('#backend[data-kind="webgpu"], #backend[data-kind="cpu"]', { timeout: TIMEOUT });
      check('the page computes on WebGPU', await page.getAttribute('#backend', 'data-kind') === 'webgpu');
      results.sketch = await sketchScenario(page);
      results.generate = await generateScenario(page);
      results.inpaint = await inpaintScenario(page);
      await page.click('#tab-explain');
      check('the Explain tab brings the explanation page back', await page.isVisible('#explain'));
    });
    errors.forEach((e) => check('no browser errors', false, e));

    // The same engine on the CPU backend (flex in wasm, one thread): a short Generate run.
    console.log('Generate on the CPU backend:');
    const cpuErrors = await withBrowser(['--enable-unsafe-webgpu'], `${url}#backend=cpu`, async (page) => {
      await page.click('#tab-generate');
      await page.click('#set-cifar-robust');
      await page.waitForSelector('#task-models[data-state="ready"], #task-models[data-state="failed"]', { timeout: TIMEOUT });
      check('CPU: the models loaded', await page.getAttribute('#task-models', 'data-state') === 'ready', await page.textContent('#task-models'));
      await quickSettings(page, { iterations: 2, samples: 4, batch: 4 });
      const run = await runAndRead(page, 'CPU Generate');
      probabilityChecks('CPU Generate', run, 2);
      results.cpu = run;
      await crashProofScenario(page, url);
    });
    cpuErrors.forEach((e) => check('CPU: no browser errors', false, e));
  } catch (e) {
    check('end-to-end run completed', false, e.stack || String(e));
  } finally {
    server.close();
  }
  fs.writeFileSync(path.join(outDir, 'tasks-results.json'), JSON.stringify(results, null, 1));
  finish('e2e (tasks)');
})();
