// End-to-end test of the image tasks on an ImageNet model (issue #33) in a real headless Chromium:
//   - WebGPU (SwiftShader): the task switch opens Sketch on SqueezeNet at 227×227; a class found by
//     name among the 1000; the paint bucket and a brush stroke change the canvas, which is the seed;
//     a short run of A2X beside PGD ends with both pictures changed, the attacked model's target
//     probability raised by both, the judge (Lite0, another family) ranking the target; “Save JSON”
//     gives the run's numbers and its link, “Save PNG” the picture at 227×227.
//   - CPU (flex): Inpaint starts from the bundled cat with the central 64×64 hole and the picture's
//     own top-1 as the target; a brush stroke grows the hole; both methods change only the hole;
//     the run's link, opened in a fresh page, gives exactly the same run, and `a2x replay` of it
//     (A2X_BIN) starts from the same picture; a reload in the middle of a run is resumed to exactly
//     the uninterrupted run's result; Generate starts from the built-in noise, and Pause holds its
//     run until “Go on”.
// Screenshots go to OUT_DIR.
//
//   node tests/e2e/imagenet_tasks.cjs DIST_DIR OUT_DIR
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const { serve } = require('../../scripts/serve.cjs');
const { check, withBrowser, finish, strokeAcross, pixels, readTaskRun } = require('./lib.cjs');

const [dist, outDir] = process.argv.slice(2);
const TIMEOUT = 900_000; // SwiftShader runs SqueezeNet at CPU speed
const A2X_BIN = process.env.A2X_BIN;

function difference(a, b) {
  let n = 0;
  for (let i = 0; i < Math.min(a.length, b.length); i += 4) {
    if (a[i] !== b[i] || a[i + 1] !== b[i + 1] || a[i + 2] !== b[i + 2]) n++;
  }
  return n;
}

// A few iterations, a small D̄, the ± check on the mini-batch: seconds a step, not minutes.
async function quickSettings(page, iterations) {
  await page.fill('#task-iterations', String(iterations));
  await page.fill('#task-samples', '8');
  await page.fill('#task-batch', '4');
  await page.selectOption('#task-sign-check', 'batch');
}

// The shown task run once it ended (checked to have finished), as its JSON summary.
const readRun = (page, label) => readTaskRun(page, label, TIMEOUT);

async function ready(page, label) {
  await page.waitForSelector('#task-models[data-state="ready"], #task-models[data-state="failed"]', { timeout: TIMEOUT });
  check(`${label}: SqueezeNet, its judge and the bundled photos loaded`, await page.getAttribute('#task-models', 'data-state') === 'ready',
    await page.textContent('#task-models'));
}

function outcome(run) {
  return JSON.stringify([run.seed_fingerprint, run.a2x_fingerprint, run.pgd_fingerprint, run.a2x_target_probability, run.a2x_samples_probability, run.pgd_target_probability]);
}

async function sketchScenario(page) {
  await page.click('#tab-sketch');
  check('Sketch: the tasks open on SqueezeNet', await page.getAttribute('#tasks', 'data-set') === 'squeezenet');
  await ready(page, 'Sketch');
  const side = await page.$eval('#sketch-canvas', (c) => [c.width, c.height]);
  check(`Sketch: the canvas is the model's 227×227 (${side})`, side[0] === 227 && side[1] === 227);
  await page.fill('#task-class-search', 'container ship');
  await page.click('#task-class-510');
  check('Sketch: the target found by name, container ship (510)', await page.getAttribute('#task-target', 'data-class') === '510');
  const start = await pixels(page, '#sketch-canvas');
  // The paint bucket on the sky, then a brush stroke across the sea.
  await page.check('#sketch-fill');
  await page.click('#swatch-sand');
  const box = await page.locator('#sketch-canvas').boundingBox();
  await page.mouse.click(box.x + box.width * 0.05, box.y + box.height * 0.05);
  await page.waitForFunction(() => {
    const c = document.querySelector('#sketch-canvas');
    const d = c.getContext('2d').getImageData(2, 2, 1, 1).data;
    return d[0] === 220 && d[1] === 200 && d[2] === 150;
  }, null, { timeout: 10_000 }).catch(() => {});
  const filled = await pixels(page, '#sketch-canvas');
  const bucket = difference(start, filled);
  check(`Sketch: the paint bucket filled the sky (${bucket} pixels)`, bucket > 227 * 227 / 4);
  await page.uncheck('#sketch-fill');
  await page.click('#swatch-red');
  await strokeAcross(page, '#sketch-canvas', [0.2, 0.8], [0.8, 0.8], 10);
  const stroked = difference(filled, await pixels(page, '#sketch-canvas'));
  check(`Sketch: the brush painted a stroke (${stroked} pixels)`, stroked > 200);
  const seed = await pixels(page, '#task-seed-nearest');
  const drawn = await pixels(page, '#sketch-canvas');
  check('Sketch: the seed shown is the drawing itself, pixel for pixel', difference(seed, drawn) === 0 && seed.length === 227 * 227 * 4);

  await quickSettings(page, 2);
  await page.click('#task-start');
  const run = await readRun(page, 'Sketch');
  const a2x = difference(seed, await pixels(page, '#task-a2x-nearest'));
  const pgd = difference(seed, await pixels(page, '#task-pgd-nearest'));
  check(`Sketch: A2X and PGD changed the sketch (${a2x}, ${pgd} pixels)`, a2x > 1000 && pgd > 1000);
  check(`Sketch: A2X raised SqueezeNet's probability of the target (${run.seed.robust.target_probability.toFixed(4)} → ${run.a2x.robust.target_probability.toFixed(4)})`,
    run.a2x.robust.target_probability > run.seed.robust.target_probability);
  check(`Sketch: PGD raised it too (→ ${run.pgd.robust.target_probability.toFixed(4)})`, run.pgd.robust.target_probability > run.seed.robust.target_probability);
  check(`Sketch: the judge ranks the target in each picture (${run.seed.standard.target_rank}, ${run.a2x.standard.target_rank}, ${run.pgd.standard.target_rank} of 1000)`,
    [run.seed, run.a2x, run.pgd].every((v) => v.standard.target_rank >= 1 && v.standard.target_rank <= 1000));
  const verdicts = await page.textContent('#task-a2x');
  check('Sketch: the verdicts name both models', verdicts.includes('SqueezeNet') && verdicts.includes('(judge)'), verdicts);
  const [file] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), page.click('#task-save-json')]);
  const saved = JSON.parse(fs.readFileSync(await file.path(), 'utf8'));
  check(`Sketch: “Save JSON” gives the run with its link (${file.suggestedFilename()})`,
    saved.model === 'squeezenet' && saved.target === 510 && /^a2x=1\./.test(saved.link || '') && saved.a2x_fingerprint === run.a2x_fingerprint);
  const [png] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), page.click('#task-a2x-save')]);
  const bytes = fs.readFileSync(await png.path());
  check(`Sketch: “Save PNG” gives the picture at 227×227 (${png.suggestedFilename()})`, bytes.readUInt32BE(16) === 227 && bytes.readUInt32BE(20) === 227);
  await page.screenshot({ path: path.join(outDir, 'imagenet-sketch-1280.png'), fullPage: true });
}

// Mean |Δ| of each colour value inside and outside the hole, between two RGBA arrays of 227².
function insideOutside(seed, result, hole) {
  const sums = { inside: [0, 0], outside: [0, 0] };
  for (let i = 0; i < 227 * 227; i++) {
    const d = [0, 1, 2].reduce((s, c) => s + Math.abs(seed[4 * i + c] - result[4 * i + c]), 0) / 3;
    const where = hole[4 * i] > 127 ? sums.inside : sums.outside;
    where[0] += d; where[1] += 1;
  }
  return { inside: sums.inside[0] / sums.inside[1], outside: sums.outside[0] / sums.outside[1], pixels: sums.inside[1] };
}

async function inpaintScenario(page, context, url) {
  await page.click('#tab-inpaint');
  await ready(page, 'Inpaint');
  const before = Number(await page.getAttribute('#hole-size', 'data-pixels'));
  check(`Inpaint: the hole starts as the central 64×64 square (${before} pixels)`, before === 64 * 64);
  await page.waitForSelector('#picture-top5[data-top1]', { timeout: TIMEOUT });
  const top1 = await page.getAttribute('#picture-top5', 'data-top1');
  check(`Inpaint: the target is the picture's own top-1 (${top1}: ${await page.textContent('#picture-top5')})`,
    await page.getAttribute('#task-target', 'data-class') === top1);
  await strokeAcross(page, '#mask-canvas', [0.15, 0.2], [0.45, 0.3], 10);
  await page.waitForFunction((n) => Number(document.querySelector('#hole-size').dataset.pixels) > n + 200, before, { timeout: 10_000 }).catch(() => {});
  const after = Number(await page.getAttribute('#hole-size', 'data-pixels'));
  check(`Inpaint: a brush stroke grows the hole (${before} → ${after} pixels)`, after > before + 200);
  // The run below uses the central square, so that what is inside is known here exactly.
  await page.click('#reset-hole');
  await page.waitForFunction((n) => Number(document.querySelector('#hole-size').dataset.pixels) === n, before, { timeout: 10_000 }).catch(() => {});
  check('Inpaint: “Central 64×64 hole” puts the square back', Number(await page.getAttribute('#hole-size', 'data-pixels')) === before);
  const fill = await page.inputValue('#task-inpaint-seed');
  check(`Inpaint: the hole is first filled by diffusion (${fill})`, fill === 'diffusion');
  await quickSettings(page, 4);
  await page.click('#task-start');
  const run = await readRun(page, 'Inpaint');
  const seed = await pixels(page, '#task-seed-nearest');
  // The central 64×64 square: rows and columns 81 to 144 of 227.
  const mask = new Array(227 * 227 * 4).fill(0);
  for (let i = 0; i < 227 * 227; i++) {
    const [y, x] = [Math.floor(i / 227), i % 227];
    if (y >= 81 && y < 145 && x >= 81 && x < 145) mask[4 * i] = 255;
  }
  for (const [name, selector] of [['A2X', '#task-a2x-nearest'], ['PGD', '#task-pgd-nearest']]) {
    const d = insideOutside(seed, await pixels(page, selector), mask);
    check(`Inpaint: ${name} changed the hole and nothing else (mean |Δ| ${d.inside.toFixed(2)} levels inside ${d.pixels} pixels, ${d.outside.toFixed(3)} outside)`,
      d.inside > 0.5 && d.outside < 0.01);
  }
  await page.screenshot({ path: path.join(outDir, 'imagenet-inpaint-cpu-1280.png'), fullPage: true });

  // The run's link, opened in a fresh page: the same picture, hole and settings, the same run.
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(url).origin });
  await page.click('#copy-link');
  await page.waitForFunction(() => document.querySelector('#share-link')?.value.includes('a2x=1.'), null, { timeout: 60_000 });
  const link = await page.inputValue('#share-link');
  const replay = await context.newPage();
  await replay.goto(link.replace('#', '#backend=cpu&'), { timeout: 300_000, waitUntil: 'domcontentloaded' });
  await replay.waitForSelector('#tasks[data-task="inpaint"]', { timeout: TIMEOUT });
  await ready(replay, 'Inpaint replay');
  await replay.waitForSelector('#task-start:not([disabled])', { timeout: TIMEOUT });
  if (await replay.getAttribute('#task-run', 'data-state') === 'idle') await replay.click('#task-start');
  const again = await readRun(replay, 'Inpaint replay');
  check('Inpaint: the link replays the run exactly (seed, pictures and curves)', outcome(again) === outcome(run), `${outcome(again)} vs ${outcome(run)}`);
  await replay.close();
  if (A2X_BIN) {
    execFileSync(A2X_BIN, ['replay', link, '--backend', 'flex', '--out', outDir, '--name', 'imagenet-inpaint-native'], { stdio: ['ignore', 'ignore', 'inherit'] });
    const png = fs.readFileSync(path.join(outDir, 'imagenet-inpaint-native-seed.png')).toString('base64');
    const native = await page.evaluate(async (data) => {
      const image = new Image();
      image.src = `data:image/png;base64,${data}`;
      await image.decode();
      const canvas = document.createElement('canvas');
      canvas.width = image.width; canvas.height = image.height;
      canvas.getContext('2d').drawImage(image, 0, 0);
      return Array.from(canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data);
    }, png);
    let worst = 0;
    for (let i = 0; i < native.length; i++) if (i % 4 !== 3) worst = Math.max(worst, Math.abs(native[i] - seed[i]));
    check(`Inpaint: \`a2x replay\` of the link starts from the same filled picture (largest difference ${worst} levels)`, native.length === seed.length && worst <= 1);
  } else {
    console.log('  skip the native replay: A2X_BIN is not set (the Makefile sets it)');
  }
  return run;
}

// A reload in the middle of an ImageNet run: the page offers it, and Resume ends exactly where the
// uninterrupted run did.
async function resumeScenario(page, whole) {
  await page.click('#task-start');
  await page.waitForFunction(() => Number(document.querySelector('#task-run')?.dataset.iteration) >= 2, null, { timeout: TIMEOUT });
  await page.reload({ timeout: 300_000, waitUntil: 'domcontentloaded' });
  await page.waitForSelector('#resume-offer', { timeout: TIMEOUT });
  const offered = Number(await page.getAttribute('#resume-offer', 'data-iteration'));
  check(`Resume: after a reload the ImageNet run is offered at iteration ${offered}`, offered >= 1 && offered < 4);
  await page.waitForSelector('#resume-run:not([disabled])', { timeout: TIMEOUT });
  await page.click('#resume-run');
  const resumed = await readRun(page, 'Resume');
  check('Resume: the resumed run ended with exactly the uninterrupted run\'s pictures and curves', outcome(resumed) === outcome(whole), `${outcome(resumed)} vs ${outcome(whole)}`);
}

async function generateScenario(page) {
  await page.click('#tab-generate');
  await ready(page, 'Generate');
  await page.click('#start-noise');
  await page.fill('#task-class-search', 'balloon');
  await page.click('#task-class-417');
  await quickSettings(page, 4);
  await page.click('#task-start');
  await page.waitForFunction(() => Number(document.querySelector('#task-run')?.dataset.iteration) >= 1, null, { timeout: TIMEOUT });
  await page.click('#task-pause');
  // The step in flight ends (seconds on the CPU); then nothing more until “Go on”.
  await page.waitForTimeout(10_000);
  const held = Number(await page.getAttribute('#task-run', 'data-iteration'));
  await page.waitForTimeout(10_000);
  const still = Number(await page.getAttribute('#task-run', 'data-iteration'));
  check(`Generate: Pause holds the run (iteration ${held}, and ${still} 10 s later)`, still === held && held < 4 && (await page.textContent('#task-status')).includes('paused'));
  await page.click('#task-pause');
  const run = await readRun(page, 'Generate');
  check(`Generate: “Go on” finished all ${run.iteration} iterations`, run.iteration === 4);
  check(`Generate: from the built-in noise to balloon (417), SqueezeNet's probability rose (${run.seed.robust.target_probability.toFixed(4)} → ${run.a2x.robust.target_probability.toFixed(4)})`,
    run.target === 417 && run.a2x.robust.target_probability > run.seed.robust.target_probability);
  await page.screenshot({ path: path.join(outDir, 'imagenet-generate-cpu-1280.png'), fullPage: true });
}

(async () => {
  fs.mkdirSync(outDir, { recursive: true });
  const server = await serve(dist, 0);
  const url = `http://127.0.0.1:${server.address().port}/`;
  console.log(`e2e ImageNet tasks: ${url}`);
  try {
    console.log('Sketch on SqueezeNet, WebGPU:');
    const errors = await withBrowser(['--enable-unsafe-webgpu'], url, async (page) => {
      await page.waitForSelector('#backend[data-kind="webgpu"], #backend[data-kind="cpu"]', { timeout: TIMEOUT });
      check('the page computes on WebGPU', await page.getAttribute('#backend', 'data-kind') === 'webgpu');
      await sketchScenario(page);
    });
    errors.forEach((e) => check('no browser errors', false, e));
    console.log('Inpaint and Generate on SqueezeNet, CPU:');
    const cpuErrors = await withBrowser(['--enable-unsafe-webgpu'], `${url}#backend=cpu`, async (page, context) => {
      const run = await inpaintScenario(page, context, url);
      await resumeScenario(page, run);
      await generateScenario(page);
    });
    cpuErrors.forEach((e) => check('CPU: no browser errors', false, e));
  } catch (e) {
    check('end-to-end run completed', false, e.stack || String(e));
  } finally {
    server.close();
  }
  finish('e2e (ImageNet tasks)');
})();
