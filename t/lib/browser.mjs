// A headless Chromium for the dashboard tests, driven over stdin/stdout
// by t/lib/PathStats/Browser.pm: one JSON command a line in, one JSON
// answer a line out.  Debian's /usr/bin/chromium, started so that
// nothing leaves the machine (every name resolves to nothing but
// 127.0.0.1, a proxy on a closed loopback port, no background
// networking) with a fresh profile; every request outside the admin
// location is aborted and recorded, and so are console errors, page
// errors and dialogs.
//
//   node t/lib/browser.mjs ADMIN_URL PROFILE_DIR [WIDTH HEIGHT]
//
// Commands ({"cmd": ..., ...} -> {"ok": true, "value": ...} or
// {"ok": false, "error": "..."}):
//   goto {url}                 load a page, wait for the load event
//   eval {js}                  the value of an expression (JSON-able)
//   wait {js, timeout}         poll until the expression is truthy
//   click {selector}           click an element
//   type {selector, text}      replace an input's value by typing
//   select {selector, value}   choose an option
//   key {key}                  press a key on the focused element
//   screenshot {file}          a PNG of the whole page
//   events {}                  {blocked, console, errors, dialogs,
//                              http_errors, requests}
//   metrics {}                 CDP Performance.getMetrics as an object
//   viewport {width, height}
//   quit {}

import {createServer} from 'node:net';
import {createInterface} from 'node:readline';

import puppeteer from 'puppeteer-core';

const [admin, profile, width = '1280', height = '900'] =
  process.argv.slice(2);

function closedPort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const {port} = s.address();
      s.close(() => resolve(port));
    });
  });
}

const proxyPort = await closedPort();

const browser = await puppeteer.launch({
  executablePath: process.env.PS_CHROMIUM || '/usr/bin/chromium',
  headless: 'shell',
  userDataDir: profile,
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--no-pings',
    '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1',
    `--proxy-server=127.0.0.1:${proxyPort}`,
    '--lang=en-US',
  ],
  env: {...process.env, TZ: 'UTC', LANG: 'en_US.UTF-8'},
  defaultViewport: {width: Number(width), height: Number(height)},
});

const page = await browser.newPage();
const events = {blocked: [], console: [], errors: [], dialogs: [],
                http_errors: [], requests: 0};

await page.setRequestInterception(true);
page.on('request', (req) => {
  const url = req.url();
  if (url.startsWith(admin)) {
    events.requests++;
    req.continue();
  } else {
    events.blocked.push(url);
    req.abort('blockedbyclient');
  }
});
// Chromium logs every HTTP error status of a fetch as a console error;
// those go apart, with their URL and status, from the script's own
page.on('console', (msg) => {
  if (msg.type() !== 'error') return;
  const m = /^Failed to load resource: the server responded with a status of (\d+)/
    .exec(msg.text());
  if (m) {
    events.http_errors.push(`${m[1]} ${msg.location().url}`);
  } else {
    events.console.push(msg.text());
  }
});
page.on('pageerror', (err) => events.errors.push(String(err)));
page.on('dialog', async (d) => {
  events.dialogs.push(`${d.type()}: ${d.message()}`);
  await d.dismiss();
});

const cdp = await page.createCDPSession();
await cdp.send('Performance.enable');

async function evaluate(js) {
  // eslint-disable-next-line no-new-func
  return page.evaluate(js);
}

const commands = {
  async goto({url}) {
    await page.goto(url, {waitUntil: 'load'});
    return page.url();
  },
  eval: ({js}) => evaluate(js),
  async wait({js, timeout = 10000}) {
    await page.waitForFunction(js, {timeout, polling: 100});
    return evaluate(js);
  },
  async click({selector}) {
    await page.click(selector);
    return true;
  },
  async type({selector, text}) {
    // as a person would: select what is there, delete it, type
    await page.focus(selector);
    await page.keyboard.down('Control');
    await page.keyboard.press('KeyA');
    await page.keyboard.up('Control');
    await page.keyboard.press('Backspace');
    await page.type(selector, text);
    return true;
  },
  async select({selector, value}) {
    return page.select(selector, value);
  },
  async key({key}) {
    await page.keyboard.press(key);
    return true;
  },
  async screenshot({file}) {
    await page.screenshot({path: file, fullPage: true});
    return file;
  },
  events: () => events,
  async metrics() {
    const {metrics} = await cdp.send('Performance.getMetrics');
    return Object.fromEntries(metrics.map((m) => [m.name, m.value]));
  },
  async viewport({width: w, height: h}) {
    await page.setViewport({width: w, height: h});
    return true;
  },
  async quit() {
    await browser.close();
    return true;
  },
};

const rl = createInterface({input: process.stdin});
for await (const line of rl) {
  let answer;
  try {
    const c = JSON.parse(line);
    const fn = commands[c.cmd];
    if (!fn) throw new Error(`unknown command ${c.cmd}`);
    answer = {ok: true, value: (await fn(c)) ?? null};
    if (c.cmd === 'quit') {
      process.stdout.write(`${JSON.stringify(answer)}\n`);
      process.exit(0);
    }
  } catch (e) {
    answer = {ok: false, error: String(e && e.message ? e.message : e)};
  }
  process.stdout.write(`${JSON.stringify(answer)}\n`);
}
await browser.close();
