// A small static file server for the built app (dist/): the right MIME type for .wasm, no caching
// surprises, bound to the loopback address only, and the security headers a deployer should copy
// (issue #23 item 5). Used by `make serve` and the end-to-end tests, which run under its policy.
//
//   node scripts/serve.cjs DIR [PORT]        (PORT 0 picks a free port; the URL is printed)
//   node scripts/serve.cjs --policy DIR      prints the Content-Security-Policy for DIR/index.html
'use strict';
const http = require('http');
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm', '.json': 'application/json', '.png': 'image/png',
  '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.svg': 'image/svg+xml', '.txt': 'text/plain',
  '.bin': 'application/octet-stream', '.ico': 'image/x-icon',
};

// The sha256 of every inline <script> of an HTML page, as CSP source expressions. Trunk writes one
// inline module script (the wasm loader) whose text names the hashed file names of each build, so
// the policy is computed from the file served rather than written by hand.
function inlineScriptHashes(html) {
  const hashes = [];
  for (const [, attributes, body] of html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script\s*>/gi)) {
    if (/\bsrc\s*=/i.test(attributes)) continue;
    hashes.push(`'sha256-${crypto.createHash('sha256').update(body, 'utf8').digest('base64')}'`);
  }
  return hashes;
}

// The page's policy: its own origin only; wasm compiled ('wasm-unsafe-eval', not 'unsafe-eval');
// no inline script but the loader (by hash); inline style attributes (yew sets a few, e.g. the
// region box); photos as blob:/data: URLs (the visitor's own, decoded in the page); no plugins,
// no framing, no <base>, no form posts.
function contentSecurityPolicy(html) {
  return [
    "default-src 'self'",
    `script-src 'self' 'wasm-unsafe-eval' ${inlineScriptHashes(html).join(' ')}`.trim(),
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' blob: data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

// The engine's web worker (worker_loader.js, which imports worker.js and compiles worker_bg.wasm)
// runs under the policy of its own script's response, not the page's: the same origin-only rules,
// with nothing inline at all. Sent with every script; a script the page itself loads ignores it.
const WORKER_POLICY = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
].join('; ');

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

function serve(root, port, host = '127.0.0.1') {
  root = fs.realpathSync(path.resolve(root));
  const inside = (file) => file === root || file.startsWith(root + path.sep);
  const refuse = (res, status, text) => res.writeHead(status, { 'content-type': 'text/plain', ...SECURITY_HEADERS }).end(text);
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return refuse(res, 405, 'method not allowed');
    let pathname;
    try {
      pathname = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    } catch {
      return refuse(res, 400, 'bad request');
    }
    // A NUL makes Node's file functions throw; a decoded "/" or "\" can smuggle "..".
    if (pathname.includes('\0') || pathname.split(/[\\/]/).includes('..')) return refuse(res, 400, 'bad request');
    let file = path.resolve(root, '.' + pathname);
    if (!inside(file)) return refuse(res, 403, 'forbidden');
    if (pathname.endsWith('/')) file = path.join(file, 'index.html');
    // Links are resolved and must stay inside the served folder.
    fs.realpath(file, (err, real) => {
      if (err) return refuse(res, 404, 'not found');
      if (!inside(real)) return refuse(res, 403, 'forbidden');
      fs.stat(real, (err, stat) => {
        if (err || !stat.isFile()) return refuse(res, 404, 'not found');
        const type = TYPES[path.extname(real).toLowerCase()] || 'application/octet-stream';
        const headers = { 'content-type': type, 'cache-control': 'no-cache', ...SECURITY_HEADERS };
        if (type.startsWith('text/html')) {
          fs.readFile(real, 'utf8', (err, html) => {
            if (err) return refuse(res, 500, 'cannot read');
            const body = Buffer.from(html, 'utf8');
            res.writeHead(200, { ...headers, 'content-security-policy': contentSecurityPolicy(html), 'content-length': body.length });
            res.end(req.method === 'HEAD' ? undefined : body);
          });
          return;
        }
        if (type.startsWith('text/javascript')) headers['content-security-policy'] = WORKER_POLICY;
        res.writeHead(200, { ...headers, 'content-length': stat.size });
        if (req.method === 'HEAD') return res.end();
        fs.createReadStream(real).on('error', () => res.destroy()).pipe(res);
      });
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

module.exports = { serve, contentSecurityPolicy, inlineScriptHashes, SECURITY_HEADERS, WORKER_POLICY };

if (require.main === module) {
  const args = process.argv.slice(2);
  if (args[0] === '--policy') {
    console.log(contentSecurityPolicy(fs.readFileSync(path.join(args[1] || 'dist', 'index.html'), 'utf8')));
    process.exit(0);
  }
  const [dir = 'dist', port = '8080'] = args;
  serve(dir, Number(port)).then((server) => {
    const { port } = server.address();
    console.log(`a2x: serving ${path.resolve(dir)} on http://127.0.0.1:${port}/ (Ctrl-C stops)`);
  }, (err) => {
    console.error(`a2x: cannot serve on 127.0.0.1:${port}: ${err.message}`);
    process.exit(1);
  });
}
