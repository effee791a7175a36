// scripts/serve.cjs against requests that once crashed it or escaped its folder (issue #23
// item 5), and the security headers it sends. No browser: raw HTTP requests, sent as written.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const http = require('http');
const crypto = require('crypto');
const { check, finish } = require('./lib.cjs');
const { serve } = require('../../scripts/serve.cjs');

// GET `raw` exactly as written (no normalisation by a URL parser).
function get(port, raw, method = 'GET') {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: raw, method }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

(async () => {
  const top = fs.mkdtempSync(path.join(os.tmpdir(), 'a2x-serve-'));
  const dist = path.join(top, 'dist');
  fs.mkdirSync(dist);
  fs.mkdirSync(path.join(top, 'dist-old'));
  const loader = "\nimport init from '/web.js';\nawait init();\n";
  fs.writeFileSync(path.join(dist, 'index.html'), `<!doctype html><html><head><script type="module">${loader}</script><script src="/x.js"></script></head><body><noscript>js</noscript></body></html>`);
  fs.writeFileSync(path.join(dist, 'a.txt'), 'inside');
  fs.writeFileSync(path.join(dist, 'worker_loader.js'), "importScripts('./worker.js');");
  fs.writeFileSync(path.join(top, 'dist-old', 'secret.txt'), 'SECRET');
  fs.writeFileSync(path.join(top, 'secret.txt'), 'SECRET');
  fs.symlinkSync(path.join(top, 'dist-old', 'secret.txt'), path.join(dist, 'out.txt'));
  fs.symlinkSync(path.join(dist, 'a.txt'), path.join(dist, 'in.txt'));
  const server = await serve(dist, 0);
  const { port } = server.address();
  try {
    console.log('serve.cjs:');
    const nul = await get(port, '/%00');
    check(`GET /%00 is refused (${nul.status}) and the server lives on`, nul.status === 400 && (await get(port, '/a.txt')).body === 'inside');
    for (const raw of ['/..%2fdist-old/secret.txt', '/..%2f..%2fsecret.txt', '/%2e%2e/secret.txt', '/..%5csecret.txt', '/../dist-old/secret.txt']) {
      const r = await get(port, raw);
      check(`GET ${raw} stays inside the folder (${r.status})`, r.status >= 400 && !r.body.includes('SECRET'));
    }
    const out = await get(port, '/out.txt');
    check(`a link that leads out of the folder is refused (${out.status})`, out.status === 403 && !out.body.includes('SECRET'));
    const inLink = await get(port, '/in.txt');
    check('a link inside the folder is served', inLink.status === 200 && inLink.body === 'inside');
    const post = await get(port, '/a.txt', 'POST');
    check(`POST is refused (${post.status})`, post.status === 405);
    const page = await get(port, '/');
    const csp = page.headers['content-security-policy'] || '';
    const hash = `'sha256-${crypto.createHash('sha256').update(loader, 'utf8').digest('base64')}'`;
    const scriptSrc = csp.split(';').map((d) => d.trim()).find((d) => d.startsWith('script-src ')) || '';
    check(`the page carries a CSP whose script-src allows its own origin, wasm and the inline loader by hash, nothing else (${scriptSrc})`,
      scriptSrc === `script-src 'self' 'wasm-unsafe-eval' ${hash}`);
    check('the CSP forbids plugins, framing and <base>', /object-src 'none'/.test(csp) && /frame-ancestors 'none'/.test(csp) && /base-uri 'none'/.test(csp) && !/unsafe-eval'/.test(csp.replace("'wasm-unsafe-eval'", '')));
    const script = await get(port, '/worker_loader.js');
    const workerCsp = script.headers['content-security-policy'] || '';
    check(`a script (the engine's worker runs under its own response's policy) carries a CSP: own origin and wasm only (${workerCsp})`,
      /(^|; )script-src 'self' 'wasm-unsafe-eval'(;|$)/.test(workerCsp) && /default-src 'self'/.test(workerCsp) && /object-src 'none'/.test(workerCsp));
    const file = await get(port, '/a.txt');
    check('every response says nosniff, no referrer, same-origin opener',
      [page, file, nul].every((r) => r.headers['x-content-type-options'] === 'nosniff' && r.headers['referrer-policy'] === 'no-referrer' && r.headers['cross-origin-opener-policy'] === 'same-origin'));
  } finally {
    server.close();
    fs.rmSync(top, { recursive: true, force: true });
  }
  finish('e2e (serve)');
})();
