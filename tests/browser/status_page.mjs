// Drives Debian's chromium (playwright-core, no downloaded browser) against a running tracker's
// admin listener. Called by test_status_page.py, which started the tracker and registered a release.
// Env: ADMIN_URL (http://127.0.0.1:PORT), ANNOUNCE_URL (http://127.0.0.1:PORT/announce),
// INFO_HASH (40 hex), RELEASE_NAME, SHOT_DIR. Prints one JSON line per step; exits non-zero on failure.
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import path from 'node:path';
import crypto from 'node:crypto';

const ADMIN = process.env.ADMIN_URL;
const ANNOUNCE = process.env.ANNOUNCE_URL;
const HASH = process.env.INFO_HASH;
const NAME = process.env.RELEASE_NAME;
const SHOT_DIR = process.env.SHOT_DIR;
const WAIT_MS = 15000; // bound on every wait for the page; the page polls every 2 s

function log(step, extra = {}) {
  console.log(JSON.stringify({ step, ...extra }));
}

async function status() {
  const r = await fetch(`${ADMIN}/status.json`, { cache: 'no-store' });
  assert.equal(r.status, 200);
  return r.json();
}

function pctEncode(hex) {
  return hex.match(/../g).map((b) => '%' + b).join('');
}

// One HTTP announce from a new peer (open mode: plain /announce).
async function announce(i, { left, uploaded, downloaded }) {
  const peerId = pctEncode(crypto.createHash('sha1').update(`peer-${i}-${process.pid}`).digest('hex'));
  const url = `${ANNOUNCE}?info_hash=${pctEncode(HASH)}&peer_id=${peerId}&port=${40000 + i}` +
    `&uploaded=${uploaded}&downloaded=${downloaded}&left=${left}&event=started&compact=1&numwant=10`;
  const r = await fetch(url);
  assert.equal(r.status, 200, `announce ${i}: HTTP ${r.status}`);
  const body = Buffer.from(await r.arrayBuffer()).toString('latin1');
  assert.ok(!body.includes('failure reason'), `announce ${i} failed: ${body}`);
}

async function cardValues(page) {
  return page.$eval(`article.release[data-info-hash="${HASH}"]`, (card) => {
    const f = (name) => card.querySelector(`[data-field="${name}"]`).textContent.trim();
    return {
      name: card.querySelector('.name').textContent,
      seeders: f('seeders'), leechers: f('leechers'), completed: f('completed'),
      offload: f('offload-value'),
    };
  });
}

const fmt = (n) => Number(n).toLocaleString('en-US');

async function waitForNumbers(page, rel) {
  await page.waitForFunction(({ hash, seeders, leechers }) => {
    const card = document.querySelector(`article.release[data-info-hash="${hash}"]`);
    if (!card) return false;
    const f = (n) => card.querySelector(`[data-field="${n}"]`).textContent.trim();
    return f('seeders') === seeders && f('leechers') === leechers;
  }, { hash: HASH, seeders: fmt(rel.seeders), leechers: fmt(rel.leechers) }, { timeout: WAIT_MS });
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
         '--disable-component-update', '--disable-sync'],
});
try {
  // Desktop: the release row, its numbers equal the tracker's own, and they follow new announces.
  const desktop = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const page = await desktop.newPage();
  const foreign = [];
  page.on('request', (req) => { if (!req.url().startsWith(ADMIN)) foreign.push(req.url()); });
  const consoleErrors = [];
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));

  const resp = await page.goto(`${ADMIN}/`);
  assert.equal(resp.status(), 200);
  assert.match(resp.headers()['content-type'], /text\/html/);
  await page.waitForSelector(`article.release[data-info-hash="${HASH}"]`, { timeout: WAIT_MS });
  let rel = (await status()).releases.find((r) => r.info_hash === HASH);
  assert.ok(rel, 'release missing from status.json');
  assert.ok(rel.seeders + rel.leechers > 0, 'test set-up should have announced peers');
  await waitForNumbers(page, rel);
  const before = await cardValues(page);
  assert.equal(before.name, NAME);
  log('release shown', { before });

  // A release named like HTML is shown as text: no element injected, no script run.
  const hostile = await page.$eval(`article.release[data-info-hash="${process.env.HOSTILE_HASH}"]`, (card) => ({
    text: card.querySelector('.name').textContent, imgs: card.querySelectorAll('img').length,
    pwned: document.body.dataset.pwned || null,
  }));
  assert.deepEqual(hostile, { text: process.env.HOSTILE_NAME, imgs: 0, pwned: null });

  // More peers join: the page must show the new counts without a reload.
  for (let i = 100; i < 105; i++) await announce(i, { left: 1000, uploaded: 5000, downloaded: 20000 });
  await announce(105, { left: 0, uploaded: 90000, downloaded: 0 });
  const rel2 = (await status()).releases.find((r) => r.info_hash === HASH);
  assert.ok(rel2.leechers > rel.leechers, 'leechers should have grown');
  assert.ok(rel2.seeders > rel.seeders, 'seeders should have grown');
  await waitForNumbers(page, rel2);
  const after = await cardValues(page);
  assert.notDeepEqual(after, before);
  assert.equal(after.offload, `${Math.round(Math.min(1, rel2.offload) * 100)}%`);
  const totals = await page.$eval('#t-leechers', (e) => e.textContent);
  log('updated live', { after, totals });
  assert.equal(totals, fmt((await status()).totals.leechers));
  assert.deepEqual(foreign, [], 'the page must not load anything from elsewhere');
  assert.deepEqual(consoleErrors, [], 'no script errors');
  const desktopShot = path.join(SHOT_DIR, 'status-page-desktop.png');
  await page.screenshot({ path: desktopShot, fullPage: true });
  log('screenshot', { path: desktopShot });
  await desktop.close();

  // Phone: 375×812, no horizontal scrolling, every card inside the screen.
  const phone = await browser.newContext({ viewport: { width: 375, height: 812 }, deviceScaleFactor: 2,
                                           isMobile: true, hasTouch: true });
  const p2 = await phone.newPage();
  await p2.goto(`${ADMIN}/`);
  await p2.waitForSelector(`article.release[data-info-hash="${HASH}"]`, { timeout: WAIT_MS });
  await waitForNumbers(p2, (await status()).releases.find((r) => r.info_hash === HASH));
  // the rate needs two polls; wait for it so the screenshot shows a number
  await p2.waitForFunction(() => document.getElementById('t-rate').textContent !== '–', null, { timeout: WAIT_MS });
  const layout = await p2.evaluate(() => {
    const de = document.documentElement;
    const over = [...document.querySelectorAll('body *')]
      .filter((e) => e.getBoundingClientRect().right > de.clientWidth + 0.5)
      .map((e) => e.tagName + '.' + e.className);
    return { scrollWidth: de.scrollWidth, clientWidth: de.clientWidth, over };
  });
  log('phone layout', layout);
  assert.equal(layout.clientWidth, 375);
  assert.ok(layout.scrollWidth <= layout.clientWidth, `horizontal scroll: ${JSON.stringify(layout)}`);
  assert.deepEqual(layout.over, []);
  const phoneShot = path.join(SHOT_DIR, 'status-page-phone.png');
  await p2.screenshot({ path: phoneShot, fullPage: true });
  log('screenshot', { path: phoneShot });
  await phone.close();
  log('ok');
} finally {
  await browser.close();
}
