// End-to-end test of share links (issue #7) in a real headless Chromium, on WebGPU (SwiftShader):
//   - Explain: a seed drawn on (a brush stroke and a paint-bucket fill) and a short run; "Copy
//     link" puts the link on the clipboard; the link, opened in a fresh browser profile, restores
//     the page and runs by itself; the replay has the same seed, the same ℘ at every iteration and
//     the same perturbation (fingerprints of the numbers, not of pictures);
//   - Sketch: strokes drawn with the mouse, a short run, the link replayed in a fresh profile: the
//     same sketch, ℘ per iteration and A2X and PGD pictures;
//   - bad links (garbage, a newer version, markup in a name, a misspelt field) get a clear
//     message, no page error, and the page starts as usual;
//   - the gallery page lists its dozen links with their thumbnails, every link decodes, and one
//     opens the app restored (the run it starts is not waited for).
//
//   node tests/e2e/links.cjs DIST_DIR OUT_DIR
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const { serve } = require('../../scripts/serve.cjs');
const { check, withBrowser, finish, openDisclosure, strokeAcross } = require('./lib.cjs');

const [dist, outDir] = process.argv.slice(2);
const TIMEOUT = 600_000;
const GPU = ['--enable-unsafe-webgpu'];

async function canvasPixels(page, selector) {
  return page.evaluate((sel) => {
    const canvas = document.querySelector(sel);
    return Array.from(canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data);
  }, selector);
}

// Clicks "Copy link" and returns the link, checking that it reached the clipboard.
async function copyLink(page, label, origin, context) {
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin });
  await page.click('#link-autorun'); // off …
  await page.click('#link-autorun'); // … and on again: the link asks to run when opened
  await page.click('#copy-link');
  await page.waitForFunction(() => /Copied|Not copied/.test(document.querySelector('#copy-status')?.textContent || ''), null, { timeout: 60_000 });
  const shown = await page.inputValue('#share-link');
  const status = await page.textContent('#copy-status');
  const clipboard = await page.evaluate(() => navigator.clipboard.readText()).catch((e) => `(unreadable: ${e.message})`);
  check(`${label}: "Copy link" put the link on the clipboard (${status.trim()})`, status.includes('Copied') && clipboard === shown, clipboard);
  const fragment = shown.slice(shown.indexOf('#') + 1);
  check(`${label}: the link is a versioned a2x fragment of ${fragment.length} characters`, /^a2x=1\.[A-Za-z0-9_-]+$/.test(fragment));
  return shown;
}

// The state a link holds, decoded here independently of the page (base64url, raw DEFLATE, JSON).
function decodeLink(url) {
  const payload = url.slice(url.indexOf('#a2x=1.') + 7);
  return JSON.parse(zlib.inflateRawSync(Buffer.from(payload, 'base64url')).toString('utf8'));
}

async function explainOriginal(page, context, origin) {
  await page.waitForSelector('#model[data-state="ready"], #model[data-state="failed"]', { timeout: TIMEOUT });
  check('Explain: the default model loaded', await page.getAttribute('#model', 'data-state') === 'ready');
  await page.fill('#class-search', 'nail');
  await page.click('#class-677');
  await page.click('#sample-coffee');
  await page.waitForFunction(() => document.querySelector('#seed h3 + p')?.textContent.includes('coffee'));
  // Draw on the seed: a red stroke, then the paint bucket inside it.
  await page.click('#tool-brush');
  await strokeAcross(page, '#seed-canvas', [0.1, 0.1], [0.6, 0.35], 12);
  await page.click('#tool-fill');
  await strokeAcross(page, '#seed-canvas', [0.9, 0.9], [0.9, 0.9], 12);
  await page.selectOption('#preset', 'preview');
  await openDisclosure(page, '#advanced');
  await page.fill('#set-iterations', '2');
  await page.fill('#set-batch', '4');
  await page.fill('#set-samples', '8');
  await page.fill('#set-rng', '12345');
  await page.click('#start', { timeout: TIMEOUT });
  await page.waitForSelector('#run[data-state="finished"], #run[data-state="failed"]', { timeout: TIMEOUT });
  check('Explain: the original run finished', await page.getAttribute('#run', 'data-state') === 'finished');
  const run = JSON.parse(await page.textContent('#run-json'));
  const seed = await canvasPixels(page, '#seed-canvas');
  const link = await copyLink(page, 'Explain', origin, context);
  const state = decodeLink(link);
  const edits = state.page.seed.edits.map((e) => e.op);
  check(`Explain: the link holds the seed photo and its edits (${state.page.seed.base.id}: ${edits.join(', ')}) and the settings`,
    state.page.seed.base.id === 'coffee' && edits.includes('stroke') && edits.includes('fill') &&
    state.page.config.target === 677 && state.page.config.iterations === 2 && state.page.samples === 8 && state.auto_run === true);
  return { run, seed, link };
}

async function explainReplay(page, original) {
  await page.waitForSelector('#link-notice', { timeout: TIMEOUT });
  check('Explain replay: the page says it was restored from a link', /Restored from a link/.test(await page.textContent('#link-notice')));
  // The link asked to run: no click.
  await page.waitForSelector('#run[data-state="finished"], #run[data-state="failed"]', { timeout: TIMEOUT });
  check('Explain replay: the run started by itself and finished', await page.getAttribute('#run', 'data-state') === 'finished');
  check('Explain replay: target and settings restored', await page.getAttribute('#target', 'data-class') === '677' &&
    await page.inputValue('#set-iterations') === '2' && await page.inputValue('#set-samples') === '8');
  const run = JSON.parse(await page.textContent('#run-json'));
  const seed = await canvasPixels(page, '#seed-canvas');
  check('Explain replay: the same seed, pixel for pixel (the edits replayed)', seed.length === original.seed.length && seed.every((v, i) => v === original.seed[i]));
  check(`Explain replay: the same seed values (${run.seed_fingerprint})`, run.seed_fingerprint === original.run.seed_fingerprint);
  check(`Explain replay: the same ℘ at every iteration (${run.curve.join(', ')} vs ${original.run.curve.join(', ')})`,
    run.curve.length === original.run.curve.length && run.curve.every((v, i) => v === original.run.curve[i]));
  check(`Explain replay: the same perturbation (${run.p_fingerprint} vs ${original.run.p_fingerprint})`,
    run.p_fingerprint !== null && run.p_fingerprint === original.run.p_fingerprint);
  return run;
}

async function sketchOriginal(page, context, origin) {
  await page.click('#tab-sketch');
  // The tasks open on an ImageNet model; this link is the CIFAR-10 one's.
  await page.click('#set-cifar-robust');
  await page.waitForSelector('#task-models[data-state="ready"], #task-models[data-state="failed"]', { timeout: TIMEOUT });
  check('Sketch: the models loaded', await page.getAttribute('#task-models', 'data-state') === 'ready');
  await page.click('#cifar-class-0');
  await page.click('#swatch-grey');
  await strokeAcross(page, '#sketch-canvas', [0.2, 0.3], [0.8, 0.45], 12);
  await strokeAcross(page, '#sketch-canvas', [0.5, 0.1], [0.45, 0.7], 12);
  await page.click('#sketch-undo');
  await page.click('#sketch-redo');
  await page.fill('#task-iterations', '3');
  await page.fill('#task-samples', '8');
  await page.fill('#task-batch', '4');
  await page.selectOption('#task-sign-check', 'batch');
  await page.click('#task-start', { timeout: TIMEOUT });
  await page.waitForSelector('#task-run[data-state="done"], #task-run[data-state="failed"]', { timeout: TIMEOUT });
  check('Sketch: the original run finished', await page.getAttribute('#task-run', 'data-state') === 'done');
  const run = JSON.parse(await page.textContent('#task-json'));
  const sketch = await canvasPixels(page, '#sketch-canvas');
  const link = await copyLink(page, 'Sketch', origin, context);
  const state = decodeLink(link);
  check(`Sketch: the link holds the starting sketch and 2 strokes (${state.page.seed.edits.length} edits)`,
    state.page.task === 'sketch' && state.page.seed.base.id === 'ship-sketch' && state.page.seed.edits.length === 2 &&
    state.page.settings.run.target === 0);
  return { run, sketch, link };
}

async function sketchReplay(page, original) {
  // The page may show another task first: wait for the link's, then read what is shown.
  await page.waitForSelector('#tasks[data-task="sketch"]', { timeout: TIMEOUT }).catch(() => {});
  const task = await page.getAttribute('#tasks', 'data-task');
  check(`Sketch replay: the link opened the Sketch task (${task})`, task === 'sketch');
  await page.waitForSelector('#task-run[data-state="done"], #task-run[data-state="failed"]', { timeout: TIMEOUT });
  check('Sketch replay: the run started by itself and finished', await page.getAttribute('#task-run', 'data-state') === 'done');
  const run = JSON.parse(await page.textContent('#task-json'));
  const sketch = await canvasPixels(page, '#sketch-canvas');
  check('Sketch replay: the same drawing, pixel for pixel', sketch.length === original.sketch.length && sketch.every((v, i) => v === original.sketch[i]));
  const a = run.a2x_target_probability; const b = original.run.a2x_target_probability;
  check(`Sketch replay: the same target probability at every iteration (${a.join(', ')})`, a.length > 0 && a.length === b.length && a.every((v, i) => v === b[i]));
  const c = run.a2x_samples_probability; const d = original.run.a2x_samples_probability;
  check(`Sketch replay: the same ℘ on D̄ at every iteration (${c.length} values)`, c.length > 0 && c.length === d.length && c.every((v, i) => v === d[i]));
  check(`Sketch replay: the same A2X and PGD pictures (${run.a2x_fingerprint}, ${run.pgd_fingerprint})`,
    run.seed_fingerprint === original.run.seed_fingerprint && run.a2x_fingerprint === original.run.a2x_fingerprint &&
    run.pgd_fingerprint === original.run.pgd_fingerprint);
}

async function badLinks(url, validLink) {
  const encode = (state) => `#a2x=1.${zlib.deflateRawSync(Buffer.from(JSON.stringify(state))).toString('base64url')}`;
  const cases = [
    ['garbage', '#a2x=1.%%%not-base64', /damaged/],
    ['a newer version', '#a2x=7.AAAA', /newer a2x \(format 7\)/],
  ];
  if (validLink) {
    // A valid link tampered with: markup as the model's name (refused and not echoed as markup),
    // a misspelt field.
    const markup = decodeLink(validLink);
    markup.page.model = '<img src=x onerror=alert(1)>';
    cases.push(['markup in a name', encode(markup), /the model must be a short plain name/]);
    const misspelt = decodeLink(validLink);
    misspelt.page.config.etta = misspelt.page.config.eta;
    delete misspelt.page.config.eta;
    cases.push(['a misspelt field', encode(misspelt), /unknown field page\.config\.etta/]);
    // |D̄| 3,500 at 224² (227² for SqueezeNet): over 2 GB of samples, which once failed wasm32's
    // allocation and killed the page. The cap is 1 GiB of samples: 1783 at 224², 1736 at 227².
    const huge = decodeLink(validLink);
    huge.page.samples = 3500;
    const side = huge.page.seed.side;
    const most = Math.floor(2 ** 30 / (3 * side * side * 4));
    cases.push(['|D̄| beyond the browser\'s memory', encode(huge), new RegExp(`at most ${most} fit in the browser's memory`)]);
  }
  for (const [label, hash, message] of cases) {
    const errors = await withBrowser(GPU, url + hash, async (page) => {
      await page.waitForSelector('#link-error', { timeout: TIMEOUT });
      const text = await page.textContent('#link-error');
      check(`bad link (${label}): a clear message — “${text.trim().slice(0, 140)}”`, message.test(text));
      check(`bad link (${label}): no markup injected`, await page.$$eval('#link-error img', (els) => els.length) === 0);
      await page.waitForSelector('#model[data-state="ready"], #model[data-state="failed"]', { timeout: TIMEOUT });
      check(`bad link (${label}): the page starts as usual`, await page.isVisible('#explain') && await page.$('#link-notice') === null);
    });
    errors.forEach((e) => check(`bad link (${label}): no browser errors`, false, e));
  }
  if (!validLink) return;
  // A valid link whose seed is the sender's own file, named with markup: a file name may hold any
  // printable character, so the link is accepted, and the name must reach the page as text.
  const named = decodeLink(validLink);
  const name = '<img src=x onerror="window.__pwned=1">.png';
  named.page.seed.base = { kind: 'supplied', name };
  {
    const errors = await withBrowser(GPU, url + encode(named), async (page) => {
      await page.waitForSelector('#link-notice', { timeout: TIMEOUT });
      const notice = await page.textContent('#link-notice');
      const images = await page.$$eval('#link-notice img, #seed p img', (els) => els.length);
      const pwned = await page.evaluate(() => window.__pwned === 1);
      check(`a file name holding markup shows as text (“${notice.match(/“[^”]*”/)?.[0] ?? notice.slice(0, 80)}”), no element made, no script run`,
        notice.includes(`“${name}”`) && images === 0 && !pwned);
    });
    errors.forEach((e) => check('markup file name: no browser errors', false, e));
  }
  // A valid link that asks to run 100,000 iterations at once: restored, but it waits for the visitor.
  const large = decodeLink(validLink);
  large.page.config.iterations = 100000;
  const errors = await withBrowser(GPU, url + encode(large), async (page) => {
    await page.waitForSelector('#link-notice', { timeout: TIMEOUT });
    await page.waitForSelector('#model[data-state="ready"], #model[data-state="failed"]', { timeout: TIMEOUT });
    const notice = await page.textContent('#link-notice');
    await page.waitForTimeout(3000);
    const state = await page.getAttribute('#run', 'data-state');
    check(`a link asking for 100,000 iterations is restored but waits for Run (run ${state}; “${notice.trim().slice(0, 120)}”)`,
      /its run is large/.test(notice) && state === 'idle' && await page.inputValue('#set-iterations') === '100000');
  });
  errors.forEach((e) => check('large link: no browser errors', false, e));
}

async function gallery(url) {
  const cards = JSON.parse(fs.readFileSync(path.join(dist, 'gallery/links.json'), 'utf8'));
  const errors = await withBrowser(GPU, `${url}gallery/`, async (page) => {
    const links = await page.$$eval('li.card a', (as) => as.map((a) => a.getAttribute('href')));
    // A dozen explanation and CIFAR-10 generation cards (six classes, two seeds each), and one card
    // per ImageNet task run (issue #33), in the order of links.json.
    check(`gallery: ${links.length} cards with links, as many as links.json has (${cards.length})`, links.length === cards.length && links.length >= 12);
    // The page was read at DOMContentLoaded: wait until every image has loaded or failed.
    await page.waitForFunction(() => [...document.images].every((i) => i.complete), null, { timeout: 60_000 });
    const images = await page.$$eval('li.card img', (imgs) => imgs.map((i) => [i.getAttribute('src'), i.naturalWidth]));
    check(`gallery: all ${images.length} thumbnails load`, images.length >= 24 && images.every(([, w]) => w > 0), JSON.stringify(images.filter(([, w]) => !w)));
    const states = links.map((href) => decodeLink(href));
    check('gallery: every link is a versioned a2x link that decodes to a state that runs when opened',
      links.every((href) => href.startsWith('../#a2x=1.')) && states.every((s) => s.auto_run && s.page && s.page.kind));
    const targets = states.map((s) => (s.page.kind === 'explain' ? s.page.config.target : s.page.settings.run.target));
    const paired = states.map((s) => s.page.kind === 'explain' || s.page.model === 'cifar-robust');
    const pairs = targets.filter((_, i) => paired[i]);
    check(`gallery: explanations and CIFAR-10 generations: six classes, two seeds each (targets ${pairs.join(' ')})`,
      pairs.length === 12 && pairs.every((t, i) => i % 2 === 1 || pairs[i + 1] === t) && new Set(pairs).size === 6);
    const imagenetTasks = states.filter((s) => s.page.kind === 'task' && s.page.model !== 'cifar-robust');
    check(`gallery: ImageNet task cards at the model's side, each its own class (${imagenetTasks.map((s) => `${s.page.task} → ${s.page.settings.run.target}`).join(', ')})`,
      imagenetTasks.length === cards.length - 12 && imagenetTasks.every((s) => s.page.model === 'squeezenet') &&
      new Set(imagenetTasks.map((s) => s.page.settings.run.target)).size === imagenetTasks.length);
    // The first card opens the app restored.
    await page.click('li.card a');
    await page.waitForSelector('#link-notice', { timeout: TIMEOUT });
    const first = states[0];
    const target = first.page.kind === 'explain' ? first.page.config.target : first.page.settings.run.target;
    check(`gallery: the first card opens the page restored (target ${target})`, await page.getAttribute('#target', 'data-class') === String(target));
  });
  errors.forEach((e) => check('gallery: no browser errors', false, e));
}

(async () => {
  fs.mkdirSync(outDir, { recursive: true });
  const server = await serve(dist, 0);
  const origin = `http://127.0.0.1:${server.address().port}`;
  const url = `${origin}/`;
  console.log(`e2e links: ${url}`);
  const results = {};
  try {
    console.log('Explain: make a result and copy its link:');
    let original;
    let errors = await withBrowser(GPU, url, async (page, context) => { original = await explainOriginal(page, context, origin); });
    errors.forEach((e) => check('Explain: no browser errors', false, e));
    if (original) {
      results.explainLink = original.link;
      console.log('Explain: the link in a fresh browser profile:');
      errors = await withBrowser(GPU, original.link, async (page) => { results.explainReplay = await explainReplay(page, original); });
      errors.forEach((e) => check('Explain replay: no browser errors', false, e));
    }

    console.log('Sketch: make a result and copy its link:');
    let sketch;
    errors = await withBrowser(GPU, url, async (page, context) => { sketch = await sketchOriginal(page, context, origin); });
    errors.forEach((e) => check('Sketch: no browser errors', false, e));
    if (sketch) {
      results.sketchLink = sketch.link;
      console.log('Sketch: the link in a fresh browser profile:');
      errors = await withBrowser(GPU, sketch.link, async (page) => { await sketchReplay(page, sketch); });
      errors.forEach((e) => check('Sketch replay: no browser errors', false, e));
    }

    console.log('Bad links:');
    await badLinks(url, results.explainLink);
    console.log('The gallery:');
    await gallery(url);
  } catch (e) {
    check('end-to-end run completed', false, e.stack || String(e));
  } finally {
    server.close();
  }
  fs.writeFileSync(path.join(outDir, 'links-results.json'), JSON.stringify(results, null, 1));
  finish('e2e (links)');
})();
