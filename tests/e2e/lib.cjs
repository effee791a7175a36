// Shared by the browser tests: a pass/fail counter and a fresh headless Chromium per scenario.
'use strict';
const fs = require('fs');
const path = require('path');
const { chromium } = require(path.join(process.env.A2X_TOOLS, 'node/node_modules/playwright-core'));

const CHROMIUM = process.env.A2X_CHROMIUM || '/usr/lib/chromium/chromium';
const BASE_FLAGS = [
  '--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
];

// Each line carries the seconds since the script started, so a slow check shows in CI's log.
const counts = { passed: 0, failed: 0 };
const started = Date.now();
const elapsed = () => `${String(Math.round((Date.now() - started) / 1000)).padStart(4)} s`;
function check(name, condition, detail = '') {
  if (condition) {
    counts.passed++;
    console.log(`  ok   ${elapsed()}  ${name}`);
  } else {
    counts.failed++;
    console.log(`  FAIL ${elapsed()}  ${name} ${detail}`);
  }
}

// Runs `body(page, context)` in a fresh browser profile; returns the page's errors (uncaught
// exceptions, console errors, HTTP errors).
async function withBrowser(flags, url, body, { viewport = { width: 1280, height: 800 }, init, beforeGoto } = {}) {
  const userDataDir = fs.mkdtempSync('/tmp/a2x-chromium-');
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM, headless: true, args: [...BASE_FLAGS, ...flags], viewport, acceptDownloads: true,
  });
  const errors = [];
  try {
    // The pages run under scripts/serve.cjs's Content-Security-Policy: a violation is an error.
    await context.addInitScript(() => document.addEventListener('securitypolicyviolation',
      (e) => console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || 'inline'}`)));
    if (init) await context.addInitScript(init);
    const page = context.pages()[0] || await context.newPage();
    page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(`console error: ${m.text()}`); });
    page.on('response', (r) => { if (r.status() >= 400) errors.push(`HTTP ${r.status()} for ${r.url()}`); });
    if (beforeGoto) await beforeGoto(page, context);
    // Every check waits for the page's own state (selectors, data-state), not for the load event:
    // the debug wasm's load event may be long in coming, and a busy CI machine once took longer
    // than 300 s for it.
    await page.goto(url, { timeout: 300_000, waitUntil: 'domcontentloaded' });
    await body(page, context);
  } finally {
    await context.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
  return errors;
}

function finish(label) {
  console.log(`${label}: ${counts.passed} passed, ${counts.failed} failed`);
  process.exit(counts.failed === 0 ? 0 : 1);
}

// Opens a <details> disclosure the way a visitor does, by clicking its summary; a no-op when open.
async function openDisclosure(page, selector) {
  if (!await page.$eval(selector, (d) => d.open)) await page.click(`${selector} > summary`);
}

// Drags the mouse across a canvas as a visitor draws one stroke: from and to are fractions of its
// width and height. The mouse acts at viewport coordinates, so the canvas is brought into view first.
async function strokeAcross(page, selector, from, to, steps = 8) {
  await page.locator(selector).scrollIntoViewIfNeeded();
  const box = await page.locator(selector).boundingBox();
  await page.mouse.move(box.x + box.width * from[0], box.y + box.height * from[1]);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * to[0], box.y + box.height * to[1], { steps });
  await page.mouse.up();
}

// A canvas's RGBA bytes, as a plain array.
async function pixels(page, selector) {
  return page.evaluate((sel) => {
    const canvas = document.querySelector(sel);
    return Array.from(canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data);
  }, selector);
}

// Waits for the image task page's run to end; checks that it finished and returns its summary
// (the page's hidden #task-json).
async function readTaskRun(page, label, timeout) {
  await page.waitForSelector('#task-run[data-state="done"], #task-run[data-state="failed"]', { timeout });
  const state = await page.getAttribute('#task-run', 'data-state');
  const error = state === 'done' ? '' : await page.textContent('#task-run-error').catch(() => '');
  check(`${label}: the run finished`, state === 'done', error);
  return JSON.parse(await page.textContent('#task-json'));
}

module.exports = { CHROMIUM, check, withBrowser, finish, counts, openDisclosure, strokeAcross, pixels, readTaskRun };
