import { existsSync, readFileSync } from 'node:fs';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_BUCKETS } from '../../src/cli/dev.ts';
import { LOCAL_CREDENTIALS } from '../../src/cli/local-s3.ts';
import { UPLOAD_CONTENT_TYPES } from '../../src/handlers/api.ts';
import { createS3Client } from '../../src/storage/s3.ts';
import { type DevApi, startDevApi } from '../support/dev-api.ts';
import { fixturePath } from '../support/fixtures.ts';

/**
 * The web page in a real browser: Debian's chromium driven by playwright-core, against imgpipe dev.
 * Sign in through the local issuer (authorization code with PKCE), upload a photo and a text file
 * named .jpg through the page, and see the variants (each decoded by the browser) and the reason.
 */
const CHROMIUM = process.env.IMGPIPE_CHROMIUM ?? '/usr/bin/chromium';
const present = existsSync(CHROMIUM);
if (!present && process.env.IMGPIPE_REQUIRE_TOOLS === '1')
  throw new Error(`${CHROMIUM} is required (IMGPIPE_REQUIRE_TOOLS=1); .ci/run installs Debian's chromium`);
if (!present) console.warn(`[skip] ${CHROMIUM} is not installed: the web page test is skipped`);

/** Where the screenshot of the page goes (the report and the README point at it). */
export const SCREENSHOT = process.env.IMGPIPE_SCREENSHOT ?? '/tmp/imgpipe-page.png';

/**
 * expect.poll with time for a machine under load: vitest's default gives up after one second, too
 * short for a page loaded again or a token exchanged while CI runs other suites beside it.
 */
function poll<T>(fn: () => T | Promise<T>) {
  return expect.poll(fn, { timeout: 30_000 });
}

let dev: DevApi;
let browser: Browser;

beforeAll(async () => {
  if (!present) return;
  dev = await startDevApi();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    // As root (CI) chromium needs --no-sandbox; /dev/shm is small in containers.
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await dev?.stop();
});

/**
 * The page's first status request for `name` is answered failed (the real answer, its status
 * rewritten); the later ones go through. Returns how many GETs of it were asked.
 */
async function failFirstAnswer(page: Page, name: string): Promise<() => number> {
  let asked = 0;
  const path = new RegExp(`/images/.*/${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
  await page.route(path, async (route) => {
    if (route.request().method() !== 'GET' || ++asked > 1) return route.continue();
    const real = await route.fetch();
    const body = (await real.json()) as Record<string, unknown>;
    return route.fulfill({
      response: real,
      json: { ...body, status: 'failed', message: 'Processing failed on the service side' },
    });
  });
  return () => asked;
}

/** Holds the page's presigned POSTs to S3 until the function it returns is called. */
async function holdUploads(page: Page): Promise<() => void> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  await page.route(
    (url) => url.href.startsWith(dev.s3),
    async (route) => {
      if (route.request().method() === 'POST') await released;
      return route.continue();
    },
  );
  return release;
}

/** Whether the browser would ask before leaving: a beforeunload handler that cancels the event. */
function asksBeforeLeaving(page: Page): Promise<boolean> {
  return page.evaluate(() => {
    const event = new Event('beforeunload', { cancelable: true });
    window.dispatchEvent(event);
    return event.defaultPrevented;
  });
}

async function signIn(page: Page, user: string, base = dev.url): Promise<void> {
  await page.goto(`${base}/`);
  await poll(() => page.locator('#who').textContent()).toBe('Not signed in');
  // The keyboard alone: skip link, then the sign-in button.
  await page.keyboard.press('Tab');
  await page.keyboard.press('Tab');
  expect(await page.evaluate(() => document.activeElement?.id)).toBe('sign-in');
  await page.keyboard.press('Enter');
  await page.waitForURL(/\/oidc\/authorize\?/);
  await page.getByLabel('User name').fill(user);
  await page.keyboard.press('Enter');
  await page.waitForURL(`${base}/`);
  await poll(() => page.locator('#who').textContent()).toBe(`Signed in as ${user}`);
}

/**
 * Sign out, which goes through the issuer's logout (the local issuer's end_session_endpoint, or one
 * a test plays at /oidc/logout) and back to the page: waits until the page, loaded again after the
 * logout, says the user is signed out. Waiting for the page's URL would not do: it is the same
 * before the logout, and reading the page while it is loaded again fails.
 */
async function signOut(page: Page): Promise<void> {
  const seen: string[] = [];
  const listener = (response: { url(): string }) => seen.push(new URL(response.url()).pathname);
  page.on('response', listener);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await poll(() => {
    const logout = seen.indexOf('/oidc/logout');
    return logout >= 0 && seen.indexOf('/config.json', logout) > logout;
  }).toBe(true);
  page.off('response', listener);
  await poll(() => page.locator('#notice').textContent()).toBe('Sign in to upload images.');
  expect(await page.locator('#who').textContent()).toBe('Not signed in');
}

/** Drops files on the page's drop zone, as built here; the types the drop's files carry. */
function dropFiles(
  page: Page,
  files: readonly { name: string; type: string; bytes: number[] }[],
): Promise<string[]> {
  return page.evaluate((files) => {
    const transfer = new DataTransfer();
    for (const file of files)
      transfer.items.add(new File([new Uint8Array(file.bytes)], file.name, { type: file.type }));
    document
      .getElementById('drop')!
      .dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
    return [...transfer.files].map((file) => file.type);
  }, files);
}

/** Waits until every named card has a final status, and expects each to say processed. */
async function expectProcessed(page: Page, names: readonly string[]): Promise<void> {
  await page.waitForFunction(
    (names) =>
      names.every((name) =>
        document.querySelector(`li.upload[data-file="${name}"]`)?.hasAttribute('data-status'),
      ),
    names,
    { timeout: 240_000, polling: 500 },
  );
  for (const name of names) {
    const card = page.locator(`li.upload[data-file="${name}"]`);
    expect(await card.getAttribute('data-status'), (await card.textContent()) ?? '').toBe('processed');
  }
}

describe.runIf(present)('the web page', () => {
  it('uploads a photo and shows every variant decoded, and a rejected file with its reason', async () => {
    const page = await browser.newPage({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 1 });
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await signIn(page, 'alice');

    await page
      .locator('#files')
      .setInputFiles([
        fixturePath('photos/colour-fig-red-bowl.jpg'),
        fixturePath('edge/broken/text-named.jpg'),
      ]);

    const photo = page.locator('li.upload[data-file="colour-fig-red-bowl.jpg"]');
    const text = page.locator('li.upload[data-file="text-named.jpg"]');
    await page.waitForFunction(
      () =>
        ['colour-fig-red-bowl.jpg', 'text-named.jpg'].every((name) =>
          document.querySelector(`li.upload[data-file="${name}"]`)?.hasAttribute('data-status'),
        ),
      undefined,
      { timeout: 180_000 },
    );
    expect(await photo.getAttribute('data-status')).toBe('processed');
    expect(await text.getAttribute('data-status')).toBe('quarantined');

    // Every variant side by side, each decoded by the browser, with its bytes and saving.
    const images = photo.locator('.variants img');
    expect(await images.count()).toBe(9);
    await page.waitForFunction(
      () => [...document.querySelectorAll<HTMLImageElement>('.variants img')].every((img) => img.complete),
      undefined,
      { timeout: 60_000 },
    );
    const decoded = await images.evaluateAll((all) =>
      (all as HTMLImageElement[]).map((img) => ({ alt: img.alt, naturalWidth: img.naturalWidth })),
    );
    for (const image of decoded) expect(image.naturalWidth, image.alt).toBeGreaterThan(0);
    expect(decoded.map((image) => image.alt)).toContain('large avif, 1600×1082');
    const captions = await photo.locator('figcaption').allTextContents();
    expect(captions.every((caption) => /\d+(\.\d+)? (B|KiB|MiB) [−+]\d+%$/.test(caption))).toBe(true);

    // The rejected file says why, in words a person reads.
    const reason = text.locator('.reason');
    expect(await reason.getAttribute('role')).toBe('alert');
    // Read out alone (an alert), it names the file: the card's title is not part of it.
    expect(await reason.textContent()).toMatch(/^text-named\.jpg: unsupported-format: .*text/i);
    expect(await reason.locator('.visually-hidden').textContent()).toBe('text-named.jpg: ');

    // Phone-sized: nothing wider than the screen.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    // A 404 that is not the API's (API Gateway's own, for a route or stage it does not have) leaves
    // the card in place and says so: the image was not deleted.
    const gateway = /\/images\/.*\/colour-fig-red-bowl\.jpg$/;
    await page.route(gateway, (route) =>
      route.request().method() === 'DELETE'
        ? route.fulfill({ status: 404, contentType: 'application/json', body: '{"message":"Not Found"}' })
        : route.continue(),
    );
    await photo.getByRole('button', { name: 'Delete colour-fig-red-bowl.jpg' }).click();
    await page.waitForFunction(() => document.getElementById('notice')?.textContent === 'Not Found');
    expect(await photo.count()).toBe(1);
    expect(await photo.getByRole('button', { name: 'Delete colour-fig-red-bowl.jpg' }).isEnabled()).toBe(
      true,
    );
    await page.unroute(gateway);

    // Deleting from the page removes the card, also when the DELETE's answer is lost: the page asks
    // again and is told the image is not there.
    let deletes = 0;
    await page.route(/\/images\/.*\/text-named\.jpg$/, async (route) => {
      if (route.request().method() !== 'DELETE' || ++deletes > 1) return route.continue();
      await route.fetch();
      await route.abort('connectionreset');
    });
    await text.getByRole('button', { name: 'Delete text-named.jpg' }).click();
    await text.waitFor({ state: 'detached' });
    expect(deletes).toBe(2);
    expect(errors).toEqual([]);
    await page.close();
  }, 300_000);

  it('offers every type the API takes, and uploads a .heic the browser gives no type and a .heif it calls image/heif', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await signIn(page, 'hana');
    const accept = (await page.locator('#files').getAttribute('accept'))!.split(',');
    const label = (await page.locator('#drop').textContent())!.toLowerCase();
    for (const type of UPLOAD_CONTENT_TYPES) {
      expect(accept, type).toContain(type);
      expect(label, type).toContain(type.split('/')[1]);
    }
    expect(accept).toContain('.heic');

    // Browsers often report '' as the type of a .heic: the page declares it from the name. The
    // files are dropped as the page built them, so that their type is exactly as given.
    const files = [
      { name: 'phone.heic', type: '', path: 'edge/formats/heic.heic' },
      { name: 'anim.gif', type: 'image/gif', path: 'edge/formats/gif.gif' },
      // What macOS browsers report for a .heif file, which the file input accepts.
      { name: 'camera.heif', type: 'image/heif', path: 'edge/formats/heic.heic' },
    ].map((file) => ({ ...file, bytes: [...readFileSync(fixturePath(file.path))] }));
    const types = await dropFiles(page, files);
    expect(types).toEqual(['', 'image/gif', 'image/heif']);
    for (const name of ['phone.heic', 'anim.gif', 'camera.heif']) {
      const card = page.locator(`li.upload[data-file="${name}"]`);
      await expect
        .poll(() => card.getAttribute('data-status'), { timeout: 120_000, interval: 500 })
        .not.toBeNull();
      expect(await card.getAttribute('data-status'), (await card.textContent()) ?? '').toBe('processed');
      expect(await card.locator('.variants img').count()).toBeGreaterThan(0);
    }
    expect(errors).toEqual([]);
    await page.close();
  }, 300_000);

  it('uploads a .HEIC the browser calls application/octet-stream and a .JPG it calls image/jpg, declared from the name', async () => {
    // Android's document pickers and some desktops report application/octet-stream for a HEIC, and
    // a Windows registry edited by other software image/jpg for a JPEG: neither is a type the API
    // takes, but the name says what the file is, as for a file the browser gives no type.
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    const declared: string[] = [];
    page.on('request', (request) => {
      if (request.method() === 'POST' && new URL(request.url()).pathname === '/uploads') {
        const body = JSON.parse(request.postData() ?? '{}');
        declared.push(`${body.filename} ${body.contentType}`);
      }
    });
    await signIn(page, 'hana');
    const files = [
      { name: 'IMG_0001.HEIC', type: 'application/octet-stream', path: 'edge/formats/heic.heic' },
      { name: 'PHOTO.JPG', type: 'image/jpg', path: 'edge/formats/1x1.jpg' },
    ].map((file) => ({ ...file, bytes: [...readFileSync(fixturePath(file.path))] }));
    const types = await dropFiles(page, files);
    expect(types).toEqual(['application/octet-stream', 'image/jpg']);
    for (const name of ['IMG_0001.HEIC', 'PHOTO.JPG']) {
      const card = page.locator(`li.upload[data-file="${name}"]`);
      await expect
        .poll(() => card.getAttribute('data-status'), { timeout: 120_000, interval: 500 })
        .not.toBeNull();
      expect(await card.getAttribute('data-status'), (await card.textContent()) ?? '').toBe('processed');
    }
    expect(declared.sort()).toEqual(['IMG_0001.HEIC image/heic', 'PHOTO.JPG image/jpeg']);
    expect(errors).toEqual([]);
    await page.close();
  }, 300_000);

  it('signs in through the page folder, the one callback URL registered, when opened as /index.html', async () => {
    const page = await browser.newPage();
    await page.goto(`${dev.url}/index.html`);
    await poll(() => page.locator('#who').textContent()).toBe('Not signed in');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/oidc\/authorize\?/);
    expect(new URL(page.url()).searchParams.get('redirect_uri')).toBe(`${dev.url}/`);
    await page.getByLabel('User name').fill('ida');
    await page.keyboard.press('Enter');
    await page.waitForURL(`${dev.url}/`);
    await poll(() => page.locator('#who').textContent()).toBe('Signed in as ida');
    await page.close();
  }, 120_000);

  it('says why a sign-in failed, when the issuer refuses the code or cannot be reached, and can sign in again', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    const signInAs = async (user: string) => {
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL(/\/oidc\/authorize\?/);
      await page.getByLabel('User name').fill(user);
      await page.keyboard.press('Enter');
      await page.waitForURL(`${dev.url}/`);
    };
    await page.goto(`${dev.url}/`);
    await poll(() => page.locator('#who').textContent()).toBe('Not signed in');

    // The issuer refuses the exchange: the page sent another verifier than its challenge's.
    await page.route(/\/oidc\/token$/, (route) => {
      const form = new URLSearchParams(route.request().postData() ?? '');
      form.set('code_verifier', 'x'.repeat(43));
      return route.continue({ postData: form.toString() });
    });
    await signInAs('gus');
    await poll(() => page.locator('#notice').textContent()).toMatch(/^Sign-in failed: .+/);
    expect(await page.locator('#notice').textContent()).not.toContain('Sign in to upload images');

    // The token endpoint cannot be reached.
    await page.unroute(/\/oidc\/token$/);
    await page.route(/\/oidc\/token$/, (route) => route.abort('connectionrefused'));
    await signInAs('gus');
    await poll(() => page.locator('#notice').textContent()).toMatch(
      /^Sign-in failed: the sign-in service \(.*\/oidc\/token\) could not be reached/,
    );
    expect(await page.locator('#who').textContent()).toBe('Not signed in');

    // The page still works: signing in again succeeds, and the name (UTF-8 in the token) is shown as typed.
    await page.unroute(/\/oidc\/token$/);
    await signInAs('José-Ñandú');
    await poll(() => page.locator('#who').textContent()).toBe('Signed in as José-Ñandú');
    expect(errors).toEqual([]);
    await page.close();
  }, 120_000);

  it('loads a variant whose presigned URL has expired with a fresh one from the status', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    // The first GET of each output answers as S3 answers a presigned URL past its expiry (the page
    // loads variants lazily, so one scrolled to after download_expires_seconds meets this); the
    // GETs after it reach the local S3 as they are.
    const expired = new Set<string>();
    await page.route(
      (url) => url.href.startsWith(dev.s3) && url.pathname.includes('/expiring'),
      (route) => {
        const { pathname } = new URL(route.request().url());
        if (route.request().method() !== 'GET' || expired.has(pathname)) return route.continue();
        expired.add(pathname);
        return route.fulfill({
          status: 403,
          contentType: 'application/xml',
          body: '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>',
        });
      },
    );
    await signIn(page, 'noor');
    await page.locator('#files').setInputFiles({
      name: 'expiring.jpg',
      mimeType: 'image/jpeg',
      buffer: readFileSync(fixturePath('edge/formats/1x1.jpg')),
    });
    await expectProcessed(page, ['expiring.jpg']);
    const images = page.locator('li.upload[data-file="expiring.jpg"] .variants img');
    expect(await images.count()).toBeGreaterThan(0);
    await expect
      .poll(
        () =>
          images.evaluateAll((all) =>
            (all as HTMLImageElement[]).every((img) => img.complete && img.naturalWidth > 0),
          ),
        { timeout: 60_000, interval: 500 },
      )
      .toBe(true);
    expect(expired.size).toBe(await images.count());
    expect(errors).toEqual([]);
    await page.close();
  }, 300_000);

  it('keeps following a failed file, which a retry may process, and shows it processed then', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    // The status a retried failure has before its retry: the first answer for the file is the
    // real one of a failed attempt (Lambda retries a failed S3 event; the item is then processing
    // again), the later ones come from imgpipe dev as they are.
    const asked = await failFirstAnswer(page, 'retried.jpg');
    await signIn(page, 'femi');
    await page.locator('#files').setInputFiles({
      name: 'retried.jpg',
      mimeType: 'image/jpeg',
      buffer: readFileSync(fixturePath('edge/formats/1x1.jpg')),
    });
    const card = page.locator('li.upload[data-file="retried.jpg"]');
    await page.waitForSelector('li.upload[data-file="retried.jpg"][data-status="failed"]');
    expect(await card.textContent()).toContain('Failures are retried: checking again');
    await expect
      .poll(() => card.getAttribute('data-status'), { timeout: 120_000, interval: 500 })
      .toBe('processed');
    expect(asked()).toBeGreaterThan(1);
    expect(await card.locator('.variants img').count()).toBeGreaterThan(0);
    expect(errors).toEqual([]);
    await page.close();
  }, 300_000);

  it("takes the user's uploads off the page when they sign out: the next person at the browser sees none of them", async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await signIn(page, 'olga');
    await page.locator('#files').setInputFiles({
      name: 'private.jpg',
      mimeType: 'image/jpeg',
      buffer: readFileSync(fixturePath('edge/formats/1x1.jpg')),
    });
    await expectProcessed(page, ['private.jpg']);
    expect(await page.locator('.variants img').count()).toBeGreaterThan(0);

    await signOut(page);
    expect(await page.locator('li.upload').count()).toBe(0);
    expect(await page.locator('img').count()).toBe(0);
    expect(errors).toEqual([]);
    await page.close();
  }, 300_000);

  it('takes no file dropped while signed out, and says to sign in', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    const asked: string[] = [];
    page.on('request', (request) => {
      if (request.url().includes('/uploads')) asked.push(request.url());
    });
    await page.goto(`${dev.url}/`);
    await poll(() => page.locator('#who').textContent()).toBe('Not signed in');
    expect(await page.locator('#files').isDisabled()).toBe(true);
    const bytes = [...readFileSync(fixturePath('edge/formats/1x1.jpg'))];
    // The card of a file taken is made at once, in the drop's own handler.
    const cards = await page.evaluate((bytes) => {
      const transfer = new DataTransfer();
      transfer.items.add(new File([new Uint8Array(bytes)], 'dropped.jpg', { type: 'image/jpeg' }));
      document
        .getElementById('drop')!
        .dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
      return document.querySelectorAll('li.upload').length;
    }, bytes);
    expect(cards).toBe(0);
    expect(await page.locator('#notice').textContent()).toBe('Sign in to upload images.');
    expect(asked).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  }, 120_000);

  it('shows the drop zone disabled while signed out, and why, and ready once signed in', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    const drop = page.locator('#drop');
    /** What a drag over the zone does to it: whether it shows as ready, and the drop effect. */
    const dragOver = () =>
      page.evaluate(() => {
        const zone = document.getElementById('drop')!;
        const transfer = new DataTransfer();
        transfer.items.add(new File([new Uint8Array(1)], 'x.jpg', { type: 'image/jpeg' }));
        zone.dispatchEvent(
          new DragEvent('dragover', { dataTransfer: transfer, bubbles: true, cancelable: true }),
        );
        const over = zone.classList.contains('over');
        zone.dispatchEvent(new DragEvent('dragleave', { bubbles: true }));
        return { over, dropEffect: transfer.dropEffect };
      });
    const looks = () =>
      drop.evaluate((zone) => ({
        cursor: getComputedStyle(zone).cursor,
        border: getComputedStyle(zone).borderStyle,
      }));

    await page.goto(`${dev.url}/`);
    await poll(() => page.locator('#who').textContent()).toBe('Not signed in');
    // Disabled where assistive technology reads it (the input), and no ARIA a label may not carry.
    expect(await drop.getAttribute('aria-disabled')).toBeNull();
    expect(await page.getByRole('button', { name: /^Drop JPEG/ }).isDisabled()).toBe(true);
    const why = page.locator('#drop-why');
    expect(await why.isVisible()).toBe(true);
    expect(await why.textContent()).toBe(
      'Sign in first: you can drop or choose files once you are signed in.',
    );
    // To a screen reader: the file picker's description, not part of its name (that would make it a
    // second "Sign in" button).
    const picker = page.getByRole('button', { name: /^Drop JPEG/ });
    expect(await picker.getAttribute('aria-describedby')).toBe('drop-why');
    expect(await picker.evaluate((input) => (input as HTMLInputElement).labels?.[0]?.textContent)).toContain(
      'Sign in first',
    );
    expect(await page.getByRole('button', { name: 'Sign in' }).count()).toBe(1);
    expect(await looks()).toEqual({ cursor: 'not-allowed', border: 'solid' });
    expect(await dragOver()).toEqual({ over: false, dropEffect: 'none' });

    await signIn(page, 'noor');
    expect(await drop.getAttribute('aria-disabled')).toBeNull();
    expect(await page.getByRole('button', { name: /^Drop JPEG/ }).isDisabled()).toBe(false);
    expect(await why.isVisible()).toBe(false);
    expect(await looks()).toEqual({ cursor: 'pointer', border: 'dashed' });
    expect((await dragOver()).over).toBe(true);
    expect(errors).toEqual([]);
    await page.close();
  }, 120_000);

  it('asks before the page is left or reloaded while a file is not yet in S3, and not once it is', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    // The presigned POST is held until the test lets it go: the file is being sent meanwhile.
    const release = await holdUploads(page);
    const asks = () => asksBeforeLeaving(page);
    await signIn(page, 'petra');
    expect(await asks()).toBe(false);
    await page.locator('#files').setInputFiles({
      name: 'leaving.jpg',
      mimeType: 'image/jpeg',
      buffer: readFileSync(fixturePath('edge/formats/1x1.jpg')),
    });
    const card = page.locator('li.upload[data-file="leaving.jpg"]');
    await expect.poll(() => card.locator('.state').textContent(), { timeout: 60_000 }).toBe('Uploading…');
    expect(await asks()).toBe(true);
    release();
    await expectProcessed(page, ['leaving.jpg']);
    expect(await asks()).toBe(false);
    expect(errors).toEqual([]);
    await page.close();
  }, 300_000);

  it("moves the keyboard's focus from a deleted card's button to the next card's, not to the top of the page", async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await signIn(page, 'quinn');
    const bytes = readFileSync(fixturePath('edge/formats/1x1.jpg'));
    await page.locator('#files').setInputFiles([
      { name: 'first.jpg', mimeType: 'image/jpeg', buffer: bytes },
      { name: 'second.jpg', mimeType: 'image/jpeg', buffer: bytes },
    ]);
    await expectProcessed(page, ['first.jpg', 'second.jpg']);
    const focused = () =>
      page.evaluate(() => document.activeElement?.getAttribute('aria-label') ?? document.activeElement?.id);

    await page.getByRole('button', { name: 'Delete first.jpg' }).focus();
    await page.keyboard.press('Enter');
    await page.locator('li.upload[data-file="first.jpg"]').waitFor({ state: 'detached' });
    expect(await page.locator('#notice').textContent()).toBe('Deleted first.jpg.');
    expect(await focused()).toBe('Delete second.jpg');

    // The last card: to the file picker, where the next upload starts.
    await page.keyboard.press('Enter');
    await page.locator('li.upload[data-file="second.jpg"]').waitFor({ state: 'detached' });
    expect(await focused()).toBe('files');
    expect(errors).toEqual([]);
    await page.close();
  }, 300_000);

  it('offers Try again for a file the API could not take for now, which then uploads it, and not for a file it refused', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    // Every request for an upload URL is answered 503 (at once again: Retry-After 0), until the
    // test lets them through.
    let refused = 0;
    await page.route(`${dev.url}/uploads`, (route) => {
      refused++;
      return route.fulfill({
        status: 503,
        headers: { 'retry-after': '0' },
        contentType: 'application/json',
        body: '{"message":"Service Unavailable"}',
      });
    });
    await signIn(page, 'rui');
    await page.locator('#files').setInputFiles({
      name: 'flaky.jpg',
      mimeType: 'image/jpeg',
      buffer: readFileSync(fixturePath('edge/formats/1x1.jpg')),
    });
    const card = page.locator('li.upload[data-file="flaky.jpg"]');
    const again = card.getByRole('button', { name: 'Upload flaky.jpg again' });
    await again.waitFor({ timeout: 60_000 });
    expect(await card.getAttribute('data-status')).toBe('error');
    expect(await card.locator('.reason').textContent()).toBe('flaky.jpg: Not uploaded. Service Unavailable');
    expect(refused).toBe(6);

    await page.unroute(`${dev.url}/uploads`);
    await again.focus();
    await page.keyboard.press('Enter');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('flaky.jpg');
    await expectProcessed(page, ['flaky.jpg']);
    expect(await card.locator('.variants img').count()).toBeGreaterThan(0);
    expect(await page.locator('li.upload').count()).toBe(1);

    // Refused for what it is (an empty file, 400): asking again cannot help, so nothing offers it.
    await page
      .locator('#files')
      .setInputFiles({ name: 'empty.jpg', mimeType: 'image/jpeg', buffer: Buffer.alloc(0) });
    const empty = page.locator('li.upload[data-file="empty.jpg"]');
    await page.waitForSelector('li.upload[data-file="empty.jpg"][data-status="error"]', { timeout: 60_000 });
    expect(await empty.locator('.reason').textContent()).toBe(
      'empty.jpg: Not uploaded. empty.jpg is empty (0 bytes), so there is no image to upload: choose the file that holds the image.',
    );
    expect(await empty.getByRole('button').count()).toBe(0);
    expect(errors).toEqual([]);
    await page.close();
  }, 300_000);

  it("says of a file too large for the API its name, its size and the limit in MB, not the API's bytes", async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await signIn(page, 'mei');
    // The API's refusals reach the page with their message reworded: the page reads the limit from
    // the refusal's limit and unit, never from the words, which are for people and may change.
    await page.route(`${dev.url}/uploads`, async (route) => {
      const real = await route.fetch();
      const body = (await real.json()) as { error?: { message: string } };
      if (body.error) body.error.message = 'Uploads are limited in size.';
      return route.fulfill({ response: real, json: body });
    });
    // Files of these sizes made in the browser (zeros): the real API refuses them for their size
    // (its limit, 32 MiB by default), before anything is sent to S3.
    await page.evaluate(() => {
      const input = document.querySelector<HTMLInputElement>('#files')!;
      const files = new DataTransfer();
      for (const [name, size] of [
        ['huge.jpg', 40_000_000],
        ['just-over.jpg', 32 * 1024 * 1024 + 1],
      ] as const)
        files.items.add(new File([new Uint8Array(size)], name, { type: 'image/jpeg' }));
      input.files = files.files;
      input.dispatchEvent(new Event('change'));
    });
    for (const name of ['huge.jpg', 'just-over.jpg'])
      await page.waitForSelector(`li.upload[data-file="${name}"][data-status="error"]`, { timeout: 60_000 });
    const reason = (name: string) => page.locator(`li.upload[data-file="${name}"] .reason`);
    expect(await reason('huge.jpg').textContent()).toBe(
      'huge.jpg: Not uploaded. huge.jpg is 38.1 MB, larger than the 32 MB an upload may be.',
    );
    // Both would read 32 MB: the bytes tell them apart.
    expect(await reason('just-over.jpg').textContent()).toBe(
      'just-over.jpg: Not uploaded. just-over.jpg is 32.0 MB (33554433 bytes), larger than the 32 MB (33554432 bytes) an upload may be.',
    );
    // Refused for what it is: asking again cannot help, so nothing offers it.
    expect(await page.locator('li.upload').getByRole('button').count()).toBe(0);
    expect(errors).toEqual([]);
    await page.close();
  }, 120_000);

  it('refuses an empty file and one of a type the API does not take before asking it, naming the file and what to do', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    const asked: string[] = [];
    page.on('request', (request) => {
      if (request.method() === 'POST' && new URL(request.url()).pathname === '/uploads')
        asked.push(JSON.parse(request.postData() ?? '{}').filename);
    });
    await signIn(page, 'noor');
    const jpeg = readFileSync(fixturePath('edge/formats/1x1.jpg'));
    await page.locator('#files').setInputFiles([
      { name: 'empty.jpg', mimeType: 'image/jpeg', buffer: Buffer.alloc(0) },
      { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not an image') },
      { name: 'scan.tiff', mimeType: 'image/tiff', buffer: Buffer.from('II*\0') },
    ]);
    // No type from the browser (made in the page: playwright would guess one from the name), nor
    // from its extension.
    await page.evaluate(() => {
      const input = document.querySelector<HTMLInputElement>('#files')!;
      const files = new DataTransfer();
      files.items.add(new File([new Uint8Array([0xff, 0xd8, 0xff])], 'mystery.xyz'));
      input.files = files.files;
      input.dispatchEvent(new Event('change'));
    });
    const images = 'an image in JPEG, PNG, WebP, AVIF, HEIC, HEIF or GIF';
    const expected: Record<string, string> = {
      'empty.jpg':
        'empty.jpg is empty (0 bytes), so there is no image to upload: choose the file that holds the image.',
      'notes.txt': `notes.txt is not an image that can be uploaded (it is text/plain): choose ${images}.`,
      'scan.tiff': `scan.tiff is not an image that can be uploaded (it is image/tiff): choose ${images}.`,
      'mystery.xyz': `mystery.xyz is not an image that can be uploaded (neither the browser nor its name says what it is): choose ${images}.`,
    };
    for (const [name, text] of Object.entries(expected)) {
      const card = page.locator(`li.upload[data-file="${name}"]`);
      await poll(() => card.getAttribute('data-status')).toBe('error');
      expect(await card.locator('.reason').textContent()).toBe(`${name}: Not uploaded. ${text}`);
      expect(await card.locator('.reason').getAttribute('role')).toBe('alert');
    }
    // Refused by the page before the API was asked, and nothing offers to try again.
    expect(asked).toEqual([]);
    expect(await page.locator('li.upload').getByRole('button').count()).toBe(0);

    // The API stays the authority: a type it refuses (here the request says image/tiff of a file
    // the page takes) is said in the same words, with the type it was sent and its accepted types.
    await page.route(`${dev.url}/uploads`, (route) =>
      route.continue({
        postData: JSON.stringify({ ...route.request().postDataJSON(), contentType: 'image/tiff' }),
      }),
    );
    await page.locator('#files').setInputFiles({ name: 'photo.jpg', mimeType: 'image/jpeg', buffer: jpeg });
    const photo = page.locator('li.upload[data-file="photo.jpg"]');
    await poll(() => photo.getAttribute('data-status')).toBe('error');
    expect(asked).toEqual(['photo.jpg']);
    expect(await photo.locator('.reason').textContent()).toBe(
      `photo.jpg: Not uploaded. photo.jpg is not an image that can be uploaded (it is image/tiff): choose an image in JPEG, PNG, WebP, AVIF, HEIC, GIF or HEIF.`,
    );
    expect(await photo.getByRole('button').count()).toBe(0);
    expect(errors).toEqual([]);
    await page.close();
  }, 120_000);

  it('shows the files of the tab again after a reload, following those not done, until deleted or signed out', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    // later.jpg reads as processing until the test lets its real answers through: the page is
    // reloaded while it is still followed.
    let hold = true;
    await page.route(/\/images\/.*\/later\.jpg$/, async (route) => {
      if (route.request().method() !== 'GET' || !hold) return route.continue();
      const real = await route.fetch();
      const body = (await real.json()) as Record<string, unknown>;
      return route.fulfill({ response: real, json: { ...body, status: 'processing' } });
    });
    await signIn(page, 'sofia');
    const bytes = readFileSync(fixturePath('edge/formats/1x1.jpg'));
    await page.locator('#files').setInputFiles({ name: 'kept.jpg', mimeType: 'image/jpeg', buffer: bytes });
    await expectProcessed(page, ['kept.jpg']);
    await page.locator('#files').setInputFiles({ name: 'later.jpg', mimeType: 'image/jpeg', buffer: bytes });
    const later = page.locator('li.upload[data-file="later.jpg"]');
    await expect.poll(() => later.locator('.state').textContent(), { timeout: 60_000 }).toBe('Processing…');

    await page.reload();
    await poll(() => page.locator('#who').textContent()).toBe('Signed in as sofia');
    // Newest first, as before the reload.
    await poll(() => page.locator('li.upload h3').allTextContents()).toEqual(['later.jpg', 'kept.jpg']);
    await expectProcessed(page, ['kept.jpg']);
    expect(await page.locator('li.upload[data-file="kept.jpg"] .variants img').count()).toBeGreaterThan(0);
    await expect.poll(() => later.locator('.state').textContent(), { timeout: 60_000 }).toBe('Processing…');
    hold = false;
    await expectProcessed(page, ['later.jpg']);

    // Deleted: not shown again.
    await page.getByRole('button', { name: 'Delete kept.jpg' }).click();
    await page.locator('li.upload[data-file="kept.jpg"]').waitFor({ state: 'detached' });
    await page.reload();
    await expectProcessed(page, ['later.jpg']);
    expect(await page.locator('li.upload h3').allTextContents()).toEqual(['later.jpg']);

    // Signed out: forgotten, for whoever signs in next in this tab.
    await signOut(page);
    await signIn(page, 'sofia');
    expect(await page.locator('li.upload').count()).toBe(0);
    expect(errors).toEqual([]);
    await page.close();
  }, 300_000);

  it('never shows a processed file as having 0 variants while its outputs cannot be listed, and shows them once they can', async () => {
    // The status said processed and its manifest was missing (the outputs being replaced or
    // removed): the card said "…: 0 variants", final, and stopped looking.
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    const s3 = createS3Client({ endpoint: dev.s3, forcePathStyle: true, credentials: LOCAL_CREDENTIALS });
    await signIn(page, 'ravi');
    await page.locator('#files').setInputFiles({
      name: 'unlisted.jpg',
      mimeType: 'image/jpeg',
      buffer: readFileSync(fixturePath('edge/formats/1x1.jpg')),
    });
    await expectProcessed(page, ['unlisted.jpg']);
    const key = await page.evaluate(
      () => (JSON.parse(sessionStorage.getItem('imgpipe.uploads') ?? '[]') as { key: string }[])[0]!.key,
    );
    const manifest = { Bucket: DEV_BUCKETS.output, Key: `manifests/${key}.json` };
    const kept = await (await s3.send(new GetObjectCommand(manifest))).Body!.transformToString();
    await s3.send(new DeleteObjectCommand(manifest));

    await page.reload();
    const card = page.locator('li.upload[data-file="unlisted.jpg"]');
    await poll(() => card.locator('.state').textContent()).toBe(
      'Processed; its variants cannot be listed yet, checking again…',
    );
    expect(await card.getAttribute('data-status')).toBeNull();
    expect(await card.textContent()).not.toContain('0 variants');

    await s3.send(new PutObjectCommand({ ...manifest, Body: kept, ContentType: 'application/json' }));
    await expectProcessed(page, ['unlisted.jpg']);
    expect(await card.locator('.variants img').count()).toBeGreaterThan(0);
    expect(errors).toEqual([]);
    s3.destroy();
    await page.close();
  }, 300_000);

  it('says a file still processing after the polling ends is still processing, not that its status is unavailable, and can check again', async () => {
    // After 10 minutes of "Processing…" the card said "Uploaded" and "Status unavailable. No result
    // after 10 minutes; look again later.": the status had been read all along, and nothing on the
    // page could look again (only a reload did).
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    // The page's clock, moved on past the polling's 10 minutes by the test (time flows otherwise).
    await page.clock.install();
    let hold = true;
    await page.route(/\/images\/.*\/slow\.jpg$/, async (route) => {
      if (route.request().method() !== 'GET' || !hold) return route.continue();
      const real = await route.fetch();
      const body = (await real.json()) as Record<string, unknown>;
      return route.fulfill({ response: real, json: { ...body, status: 'processing' } });
    });
    await signIn(page, 'mei');
    await page.locator('#files').setInputFiles({
      name: 'slow.jpg',
      mimeType: 'image/jpeg',
      buffer: readFileSync(fixturePath('edge/formats/1x1.jpg')),
    });
    const card = page.locator('li.upload[data-file="slow.jpg"]');
    await poll(() => card.locator('.state').textContent()).toBe('Processing…');
    await page.clock.fastForward('10:30');
    const again = page.getByRole('button', { name: 'Check slow.jpg again' });
    await poll(async () => {
      if ((await again.count()) === 0) await page.clock.fastForward(5_000);
      return card.locator('.state').textContent();
    }).toBe('Still processing after 10 minutes.');
    expect(await card.textContent()).not.toContain('unavailable');

    hold = false;
    await again.focus();
    await page.keyboard.press('Enter');
    await expectProcessed(page, ['slow.jpg']);
    expect(await card.locator('.variants img').count()).toBeGreaterThan(0);
    expect(errors).toEqual([]);
    await page.close();
  }, 300_000);

  it('offers Check again for a file whose status could not be read for the whole polling, which then shows it', async () => {
    // It said "Status unavailable. No result after 10 minutes; look again later." with no way to
    // look again but a reload.
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.clock.install();
    let hold = true;
    await page.route(/\/images\/.*\/dark\.jpg$/, (route) => {
      if (route.request().method() !== 'GET' || !hold) return route.continue();
      return route.fulfill({
        status: 503,
        contentType: 'application/json',
        json: {
          error: { code: 'unavailable', message: 'A dependency did not answer; try again in a moment' },
        },
      });
    });
    await signIn(page, 'lars');
    await page.locator('#files').setInputFiles({
      name: 'dark.jpg',
      mimeType: 'image/jpeg',
      buffer: readFileSync(fixturePath('edge/formats/1x1.jpg')),
    });
    const card = page.locator('li.upload[data-file="dark.jpg"]');
    await poll(() => card.locator('.reason').count()).toBe(1);
    await page.clock.fastForward('10:30');
    const again = page.getByRole('button', { name: 'Check dark.jpg again' });
    await poll(async () => {
      if ((await again.count()) === 0) await page.clock.fastForward(15_000);
      return again.count();
    }).toBe(1);
    expect(await card.locator('.reason').textContent()).toContain('No result after 10 minutes.');

    hold = false;
    await again.click();
    await expectProcessed(page, ['dark.jpg']);
    expect(await card.locator('.variants img').count()).toBeGreaterThan(0);
    expect(errors).toEqual([]);
    await page.close();
  }, 300_000);

  it("signs out of the issuer too when it has a logout endpoint (Cognito's), and comes back to the page", async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    // config.json as the api module writes it for a Cognito user pool; the local issuer keeps no
    // session (it asks every time), so its logout endpoint is played here: back to logout_uri.
    await page.route(`${dev.url}/config.json`, async (route) => {
      const real = await route.fetch();
      const body = (await real.json()) as { auth: Record<string, string> };
      return route.fulfill({
        response: real,
        json: { ...body, auth: { ...body.auth, logoutUrl: '/oidc/logout' } },
      });
    });
    const logouts: URL[] = [];
    await page.route(/\/oidc\/logout\?/, (route) => {
      const url = new URL(route.request().url());
      logouts.push(url);
      return route.fulfill({ status: 302, headers: { location: url.searchParams.get('logout_uri')! } });
    });
    await signIn(page, 'tomas');
    // Back on the page, loaded again (the URL alone is the page's before the logout too).
    await signOut(page);
    expect(logouts.length).toBe(1);
    expect(Object.fromEntries(logouts[0]!.searchParams)).toEqual({
      client_id: dev.issuer.clientId,
      logout_uri: `${dev.url}/`,
    });
    expect(await page.evaluate(() => sessionStorage.getItem('imgpipe.token'))).toBeNull();
    expect(errors).toEqual([]);
    await page.close();
  }, 120_000);

  it("signs out of any OpenID Connect issuer through its discovery document's end_session_endpoint, and comes back to the page", async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    // The local issuer's own logout endpoint (RP-Initiated Logout), not a played one.
    const logouts: URL[] = [];
    page.on('request', (request) => {
      const url = new URL(request.url());
      if (url.pathname === '/oidc/logout') logouts.push(url);
    });
    await signIn(page, 'ines');
    const idToken = await page.evaluate(() => sessionStorage.getItem('imgpipe.id_token'));
    expect(idToken).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    await signOut(page);
    expect(logouts.length).toBe(1);
    expect(Object.fromEntries(logouts[0]!.searchParams)).toEqual({
      client_id: dev.issuer.clientId,
      post_logout_redirect_uri: `${dev.url}/`,
      id_token_hint: idToken,
    });
    expect(page.url()).toBe(`${dev.url}/`);
    expect(
      await page.evaluate(() => [
        sessionStorage.getItem('imgpipe.token'),
        sessionStorage.getItem('imgpipe.id_token'),
      ]),
    ).toEqual([null, null]);
    expect(errors).toEqual([]);
    await page.close();
  }, 120_000);

  it('says that the issuer keeps its session when its discovery document names no end_session_endpoint', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.route(`${dev.url}/oidc/.well-known/openid-configuration`, async (route) => {
      const real = await route.fetch();
      const { end_session_endpoint: _, ...body } = (await real.json()) as Record<string, unknown>;
      return route.fulfill({ response: real, json: body });
    });
    await signIn(page, 'ines');
    // With the keyboard: the page stays, and the focus goes from Sign out, now hidden, to Sign in
    // in its place, not to the top of the page.
    await page.getByRole('button', { name: 'Sign out' }).focus();
    await page.keyboard.press('Enter');
    await poll(() => page.locator('#notice').textContent()).toBe(
      `Signed out of this page, but not of the sign-in service: its discovery document (${dev.url}/oidc/.well-known/openid-configuration) names no end_session_endpoint. The next Sign in at this browser may not ask for a password; close the browser to end that session.`,
    );
    expect(await page.locator('#who').textContent()).toBe('Not signed in');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('sign-in');
    expect(page.url()).toBe(`${dev.url}/`);
    expect(errors).toEqual([]);
    await page.close();
  }, 120_000);

  it('refuses a logout at the local issuer with another client, a token it did not sign, or a foreign redirect', async () => {
    const logout = async (params: Record<string, string>) => {
      const response = await fetch(`${dev.url}/oidc/logout?${new URLSearchParams(params)}`, {
        redirect: 'manual',
      });
      return {
        status: response.status,
        body: response.status === 400 ? await response.json() : response.headers.get('location'),
      };
    };
    const token = dev.issuer.token({ sub: 'ines' });
    expect(
      await logout({
        client_id: dev.issuer.clientId,
        post_logout_redirect_uri: `${dev.url}/`,
        id_token_hint: token,
        state: 's1',
      }),
    ).toEqual({
      status: 302,
      body: `${dev.url}/?state=s1`,
    });
    expect(await logout({ client_id: 'other', post_logout_redirect_uri: `${dev.url}/` })).toEqual({
      status: 400,
      body: { error: 'invalid_request', error_description: 'unknown client_id "other"' },
    });
    const forged = `${token.slice(0, token.lastIndexOf('.'))}.${'A'.repeat(20)}`;
    expect((await logout({ id_token_hint: forged, post_logout_redirect_uri: `${dev.url}/` })).body).toEqual({
      error: 'invalid_request',
      error_description: `id_token_hint is not a token this issuer signed: ${JSON.stringify(forged.slice(0, 40))}`,
    });
    expect(
      await logout({ client_id: dev.issuer.clientId, post_logout_redirect_uri: 'https://evil.example/' }),
    ).toEqual({
      status: 400,
      body: {
        error: 'invalid_request',
        error_description:
          'post_logout_redirect_uri must be a URL on this server, not "https://evil.example/"',
      },
    });
    expect(await logout({ post_logout_redirect_uri: `${dev.url}/` })).toEqual({
      status: 400,
      body: {
        error: 'invalid_request',
        error_description: 'post_logout_redirect_uri needs client_id or id_token_hint',
      },
    });
  });

  it('offers Try again for a file whose upload URL expired while it was sent again, which then uploads it', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    // The first POST's connection drops (a slow upload on a phone); the one sent again is past the
    // policy's expiration, which S3 refuses as it does (403, AccessDenied, Policy expired).
    let posts = 0;
    await page.route(
      (url) => url.href.startsWith(dev.s3),
      (route) => {
        if (route.request().method() !== 'POST') return route.continue();
        posts++;
        if (posts === 1) return route.abort('connectionreset');
        return route.fulfill({
          status: 403,
          contentType: 'application/xml',
          body: '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Invalid according to Policy: Policy expired.</Message></Error>',
        });
      },
    );
    await signIn(page, 'uma');
    await page.locator('#files').setInputFiles({
      name: 'slow.jpg',
      mimeType: 'image/jpeg',
      buffer: readFileSync(fixturePath('edge/formats/1x1.jpg')),
    });
    const card = page.locator('li.upload[data-file="slow.jpg"]');
    const again = card.getByRole('button', { name: 'Upload slow.jpg again' });
    await again.waitFor({ timeout: 60_000 });
    expect(await card.locator('.reason').textContent()).toBe(
      'slow.jpg: Not uploaded. Storage refused the upload (HTTP 403): Invalid according to Policy: Policy expired.',
    );
    expect(posts).toBe(2);
    await page.unrouteAll();
    await again.click();
    await expectProcessed(page, ['slow.jpg']);
    expect(errors).toEqual([]);
    await page.close();
  }, 300_000);

  it('offers Try again for a file whose upload S3 refused because the session that signed it ended, which then uploads it', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    // The presigned POST is signed with the API function's role credentials: once their session
    // ends S3 refuses it (400 ExpiredToken) whatever the policy says, and a new upload URL, signed
    // with the role's new credentials, is taken. S3's answer is played here: s3rver checks no token.
    let posts = 0;
    await page.route(
      (url) => url.href.startsWith(dev.s3),
      (route) => {
        if (route.request().method() !== 'POST') return route.continue();
        posts++;
        return route.fulfill({
          status: 400,
          contentType: 'application/xml',
          body: '<?xml version="1.0" encoding="UTF-8"?><Error><Code>ExpiredToken</Code><Message>The provided token has expired.</Message></Error>',
        });
      },
    );
    await signIn(page, 'ursula');
    await page.locator('#files').setInputFiles({
      name: 'session.jpg',
      mimeType: 'image/jpeg',
      buffer: readFileSync(fixturePath('edge/formats/1x1.jpg')),
    });
    const card = page.locator('li.upload[data-file="session.jpg"]');
    await poll(() => card.locator('.reason').textContent()).toBe(
      'session.jpg: Not uploaded. Storage refused the upload (HTTP 400): The provided token has expired.',
    );
    expect(posts).toBe(1);
    const again = card.getByRole('button', { name: 'Upload session.jpg again' });
    expect(await again.count()).toBe(1);
    await page.unrouteAll();
    await again.click();
    await expectProcessed(page, ['session.jpg']);
    expect(errors).toEqual([]);
    await page.close();
  }, 300_000);

  it('asks no more before the page is left once the user signed out while a file was being sent', async () => {
    // Sign out takes the user's cards off the page, and with the issuer's logout endpoint it leaves
    // the page: the browser asked 'Leave site?' over a file no longer shown, and staying kept the
    // issuer's session the Sign out was to end.
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    const release = await holdUploads(page);
    const asks = () => asksBeforeLeaving(page);
    await signIn(page, 'sigrid');
    await page.locator('#files').setInputFiles({
      name: 'signing-out.jpg',
      mimeType: 'image/jpeg',
      buffer: readFileSync(fixturePath('edge/formats/1x1.jpg')),
    });
    const card = page.locator('li.upload[data-file="signing-out.jpg"]');
    await expect.poll(() => card.locator('.state').textContent(), { timeout: 60_000 }).toBe('Uploading…');
    expect(await asks()).toBe(true);
    // Without the page's consent to leave, the browser stays (playwright dismisses the dialog)
    // and the issuer's logout is never reached.
    await signOut(page);
    expect(await asks()).toBe(false);
    release();
    expect(errors).toEqual([]);
    await page.close();
  }, 300_000);

  it("shows a file deleted elsewhere as deleted, with the API's words, and stops asking", async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    // The card keeps seeing "processing" (the real answer, its status rewritten) until the file is
    // deleted through the API, as another tab would; from then on it gets the API's real answers.
    let key: string | undefined;
    let hold = true;
    let asked = 0;
    await page.route(/\/images\/.*\/elsewhere\.jpg$/, async (route) => {
      if (route.request().method() !== 'GET') return route.continue();
      asked++;
      key ??= decodeURIComponent(new URL(route.request().url()).pathname.replace(/^\/images\//, ''));
      if (!hold) return route.continue();
      const real = await route.fetch();
      const body = (await real.json()) as Record<string, unknown>;
      return route.fulfill({ response: real, json: { ...body, status: 'processing' } });
    });
    await signIn(page, 'dmitri');
    await page.locator('#files').setInputFiles({
      name: 'elsewhere.jpg',
      mimeType: 'image/jpeg',
      buffer: readFileSync(fixturePath('edge/formats/1x1.jpg')),
    });
    const card = page.locator('li.upload[data-file="elsewhere.jpg"]');
    await expect.poll(() => card.locator('.state').textContent(), { timeout: 60_000 }).toBe('Processing…');
    // The state is a live region: polls that find it still processing leave its text alone, or a
    // screen reader says "Processing…" again on each.
    await card.locator('.state').evaluate((state) => {
      const counted = window as unknown as { stateChanges: number };
      counted.stateChanges = 0;
      new MutationObserver((changes) => {
        counted.stateChanges += changes.length;
      }).observe(state, { childList: true, characterData: true, subtree: true });
    });
    const polled = asked;
    await expect.poll(() => asked, { timeout: 60_000 }).toBeGreaterThanOrEqual(polled + 2);
    expect(await page.evaluate(() => (window as unknown as { stateChanges: number }).stateChanges)).toBe(0);
    const headers = { authorization: `Bearer ${dev.issuer.token({ sub: 'dmitri' })}` };
    const url = `${dev.url}/images/${key!.split('/').map(encodeURIComponent).join('/')}`;
    // Deleted once processed (a DELETE while processing is a 409), then the removal recorded.
    await expect
      .poll(async () => ((await (await fetch(url, { headers })).json()) as { status?: string }).status, {
        timeout: 120_000,
        interval: 500,
      })
      .toBe('processed');
    expect((await fetch(url, { method: 'DELETE', headers })).status).toBe(202);
    await expect.poll(async () => (await fetch(url, { headers })).status, { timeout: 60_000 }).toBe(404);
    hold = false;
    await page.waitForSelector('li.upload[data-file="elsewhere.jpg"][data-status="deleted"]', {
      timeout: 60_000,
    });
    expect(await card.locator('.state').textContent()).toBe('Deleted');
    expect(await card.textContent()).toContain(`${key} was deleted (`);
    expect(await card.textContent()).not.toContain('Status unavailable');
    // Final: no more status requests (the polling's longest wait is 5 s).
    const seen = asked;
    await page.waitForTimeout(6_000);
    expect(asked).toBe(seen);
    expect(errors).toEqual([]);
    await page.close();
  }, 300_000);

  it('leaves the words of a status it cannot read as they are while it keeps trying: they are a live region', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    // Uploaded, and then its status never answers (the API out of reach), so the card says so and
    // keeps asking, each failed poll finding the same words.
    let asked = 0;
    await page.route(/\/images\/.*\/unreachable\.jpg$/, (route) => {
      if (route.request().method() !== 'GET') return route.continue();
      asked++;
      return route.abort('connectionrefused');
    });
    await signIn(page, 'dmitri');
    await page.locator('#files').setInputFiles({
      name: 'unreachable.jpg',
      mimeType: 'image/jpeg',
      buffer: readFileSync(fixturePath('edge/formats/1x1.jpg')),
    });
    await page.waitForSelector('li.upload[data-file="unreachable.jpg"][data-unavailable]', {
      timeout: 60_000,
    });
    const reason = page.locator('li.upload[data-file="unreachable.jpg"] .reason');
    expect(await reason.getAttribute('role')).toBe('status');
    await reason.evaluate((box) => {
      const counted = window as unknown as { reasonChanges: number };
      counted.reasonChanges = 0;
      new MutationObserver((changes) => {
        counted.reasonChanges += changes.length;
      }).observe(box, { childList: true, characterData: true, subtree: true });
    });
    // Polls are one after another: once the second after this one is asked, the first was answered.
    const polled = asked;
    await expect.poll(() => asked, { timeout: 60_000 }).toBeGreaterThanOrEqual(polled + 2);
    expect(await reason.textContent()).toMatch(
      /Status unavailable\. The API could not be reached\. Trying again/,
    );
    expect(await page.evaluate(() => (window as unknown as { reasonChanges: number }).reasonChanges)).toBe(0);
    expect(errors).toEqual([]);
    await page.close();
  }, 300_000);

  it('sends an upload again that S3 stored without an answer, or answered 503, and follows it', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    const bytes = readFileSync(fixturePath('edge/formats/1x1.jpg'));
    const s3 = createS3Client({ endpoint: dev.s3, forcePathStyle: true, credentials: LOCAL_CREDENTIALS });
    // lost.jpg: its first POST reaches S3, which stores the file, and the connection drops before
    // the answer (as on a phone changing networks). busy.jpg: its first POST is answered SlowDown.
    const first = new Set<string>();
    await page.route(
      (url) => url.href.startsWith(dev.s3),
      async (route) => {
        const body = route.request().postDataBuffer()?.toString('latin1') ?? '';
        const key = /name="key"\r\n\r\n([^\r]*)\r\n/.exec(body)?.[1];
        const name = key?.slice(key.lastIndexOf('/') + 1);
        if (route.request().method() !== 'POST' || !key || !name || first.has(name)) return route.continue();
        first.add(name);
        if (name === 'busy.jpg')
          return route.fulfill({
            status: 503,
            contentType: 'application/xml',
            body: '<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>',
          });
        await s3.send(
          new PutObjectCommand({
            Bucket: DEV_BUCKETS.source,
            Key: key,
            Body: bytes,
            ContentType: 'image/jpeg',
          }),
        );
        return route.abort('connectionreset');
      },
    );
    await signIn(page, 'sami');
    await page.locator('#files').setInputFiles([
      { name: 'lost.jpg', mimeType: 'image/jpeg', buffer: bytes },
      { name: 'busy.jpg', mimeType: 'image/jpeg', buffer: bytes },
    ]);
    await expectProcessed(page, ['lost.jpg', 'busy.jpg']);
    expect([...first].sort()).toEqual(['busy.jpg', 'lost.jpg']);
    expect(await page.locator('li.upload').allTextContents()).not.toContainEqual(
      expect.stringContaining('Not uploaded'),
    );
    expect(errors).toEqual([]);
    s3.destroy();
    await page.close();
  }, 300_000);

  it('paces the status requests of a large drop page-wide, and still sees every file processed', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await signIn(page, 'kofi');
    // The browser's own record of every request (start and end), not the test's clock.
    await page.evaluate(() => performance.setResourceTimingBufferSize(100_000));

    const bytes = [...readFileSync(fixturePath('edge/formats/1x1.jpg'))];
    const names = Array.from({ length: 40 }, (_, i) => `many-${i}.jpg`);
    await dropFiles(
      page,
      names.map((name) => ({ name, type: 'image/jpeg', bytes })),
    );
    await expectProcessed(page, names);

    const statuses = await page.evaluate(() =>
      performance
        .getEntriesByType('resource')
        .filter((entry) => {
          const timing = entry as PerformanceResourceTiming;
          return timing.initiatorType === 'fetch' && new URL(timing.name).pathname.startsWith('/images/');
        })
        .map((entry) => ({ start: entry.startTime, end: (entry as PerformanceResourceTiming).responseEnd })),
    );
    expect(statuses.length).toBeGreaterThanOrEqual(names.length);
    // The page asks at most 4 statuses a second, 2 at once, however many files it follows (the
    // stage's 50 a second are for all its users): the busiest second by the requests' own start
    // times, and the most requests open together, each with slack.
    const starts = statuses.map((request) => request.start).sort((a, b) => a - b);
    const busiest = Math.max(
      ...starts.map((start) => starts.filter((other) => other >= start && other < start + 1000).length),
    );
    expect(busiest).toBeLessThanOrEqual(6);
    const edges = statuses
      .flatMap((request) => [
        { at: request.start, open: 1 },
        { at: request.end, open: -1 },
      ])
      .sort((a, b) => a.at - b.at || a.open - b.open);
    let open = 0;
    let mostOpen = 0;
    for (const edge of edges) {
      open += edge.open;
      mostOpen = Math.max(mostOpen, open);
    }
    expect(mostOpen).toBeLessThanOrEqual(3);
    expect(errors).toEqual([]);
    await page.close();
  }, 300_000);
});

describe.runIf(present)('the web page against a throttled API', () => {
  let slow: DevApi;
  beforeAll(async () => {
    // API Gateway's throttling at 2 requests a second, 4 at once, for the stage and for uploads:
    // most of a drop of ten files and their polling meets 429s.
    slow = await startDevApi([
      '--api-rate',
      '2',
      '--api-burst',
      '4',
      '--upload-rate',
      '2',
      '--upload-burst',
      '4',
    ]);
  }, 120_000);
  afterAll(async () => {
    await slow?.stop();
  });

  it('uploads every file of a large drop, and never says "Not uploaded" of a file in S3', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    const answers: number[] = [];
    page.on('response', (response) => {
      if (new URL(response.url()).pathname.match(/^\/(uploads|images)/)) answers.push(response.status());
    });
    // Faults on the way to the status of two files: one answers 503 and then fails to connect
    // before it recovers; the other's status cannot be reached at all.
    let flaky = 0;
    await page.route(/\/images\/.*\/flaky\.jpg$/, (route) =>
      ++flaky === 1
        ? route.fulfill({
            status: 503,
            contentType: 'application/json',
            body: '{"message":"Service Unavailable"}',
          })
        : flaky === 2
          ? route.abort('connectionrefused')
          : route.continue(),
    );
    await page.route(/\/images\/.*\/down\.jpg$/, (route) =>
      route.request().method() === 'GET' ? route.abort('connectionrefused') : route.continue(),
    );
    await signIn(page, 'ines', slow.url);

    const bytes = [...readFileSync(fixturePath('edge/formats/1x1.jpg'))];
    const names = [...Array.from({ length: 10 }, (_, i) => `drop-${i}.jpg`), 'flaky.jpg', 'down.jpg'];
    await dropFiles(
      page,
      names.map((name) => ({ name, type: 'image/jpeg', bytes })),
    );

    const settled = names.filter((name) => name !== 'down.jpg');
    await expectProcessed(page, settled);
    expect(answers).toContain(429);
    expect(flaky).toBeGreaterThan(2);

    // The file whose status cannot be read is uploaded: it says so, keeps trying, and can be deleted.
    const down = page.locator('li.upload[data-file="down.jpg"]');
    await page.waitForSelector('li.upload[data-file="down.jpg"][data-unavailable]');
    expect(await down.textContent()).toMatch(
      /Status unavailable\. The API could not be reached\. Trying again/,
    );
    expect(await page.locator('li.upload').allTextContents()).not.toContainEqual(
      expect.stringContaining('Not uploaded'),
    );
    await down.getByRole('button', { name: 'Delete down.jpg' }).click();
    await down.waitFor({ state: 'detached' });
    expect(errors).toEqual([]);
    await page.close();
  }, 300_000);
});

describe.runIf(present)('the web page of imgpipe dev --workflow', () => {
  let flow: DevApi;
  beforeAll(async () => {
    flow = await startDevApi(['--workflow', '--no-scan']);
  }, 120_000);
  afterAll(async () => {
    await flow?.stop();
  });

  it('shows a failed file as failed, with its reason, and stops following it: the workflow has retried it', async () => {
    // It kept polling for 10 minutes, saying "Failures are retried: checking again…", as in the
    // direct mode, where Lambda retries a failed event; the per-upload state machine retries its
    // tasks before RecordFailure, and nothing runs the upload again after it.
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    // The first answer says failed (the real answer, its status rewritten, as a RecordFailure
    // writes it); any later one would be the real, processed one.
    const asked = await failFirstAnswer(page, 'final.jpg');
    await signIn(page, 'fatima', flow.url);
    await page.locator('#files').setInputFiles({
      name: 'final.jpg',
      mimeType: 'image/jpeg',
      buffer: readFileSync(fixturePath('edge/formats/1x1.jpg')),
    });
    const card = page.locator('li.upload[data-file="final.jpg"]');
    await page.waitForSelector('li.upload[data-file="final.jpg"][data-status="failed"]', { timeout: 60_000 });
    expect(await card.locator('.state').textContent()).toBe('Failed');
    expect(await card.locator('.reason').textContent()).toBe(
      'final.jpg: failed: Processing failed on the service side',
    );
    // Final: no more status requests (the polling's longest wait is 5 s; its first waits are 1 s).
    await page.waitForTimeout(6_000);
    expect(asked()).toBe(1);
    expect(await card.getAttribute('data-status')).toBe('failed');
    expect(errors).toEqual([]);
    await page.close();
  }, 300_000);
});

describe.runIf(present)('the web page of imgpipe dev --host 0.0.0.0', () => {
  let wide: DevApi;
  beforeAll(async () => {
    wide = await startDevApi(['--host', '0.0.0.0']);
  }, 120_000);
  afterAll(async () => {
    await wide?.stop();
  });

  it('signs in at localhost and at 127.0.0.1, uploads from localhost, and is printed at localhost', async () => {
    // The sign-in's redirect_uri had to be on http://0.0.0.0:<port>, which no page is on (400 from
    // the issuer), and the bucket's CORS origin was that one too.
    const port = new URL(wide.url).port;
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    // Not at a network address: over plain http a browser gives the page no crypto.subtle for PKCE.
    for (const base of [`http://127.0.0.1:${port}`, `http://localhost:${port}`])
      await signIn(page, 'carol', base);
    await page.locator('#files').setInputFiles([fixturePath('photos/colour-fig-red-bowl.jpg')]);
    await expectProcessed(page, ['colour-fig-red-bowl.jpg']);
    expect(errors).toEqual([]);
    await page.close();
    // As vite prints a 0.0.0.0 bind: localhost, then this machine's addresses.
    expect(wide.url).toBe(`http://localhost:${port}`);
    const network = [...wide.output().matchAll(/^ {2}on the network: (http:\/\/\S+)\/ /gm)].map((m) => m[1]!);
    for (const url of network) expect(new URL(url).port).toBe(port);
    // At a network address the page says why it cannot sign in, not nothing (a TypeError before).
    const remote = network.find(
      (url) => !['localhost', '127.0.0.1', '[::1]'].includes(new URL(url).hostname),
    );
    if (remote) {
      const other = await browser.newPage();
      const thrown: string[] = [];
      other.on('pageerror', (error) => thrown.push(error.message));
      await other.goto(`${remote}/`);
      await poll(() => other.locator('#who').textContent()).toBe('Not signed in');
      await other.locator('#sign-in').click();
      await poll(() => other.locator('#notice').textContent()).toBe(
        `Signing in needs a secure page: open this one over https, or at http://localhost on its own machine (this browser gives ${new URL(remote).origin} no Web Crypto).`,
      );
      expect(thrown).toEqual([]);
      await other.close();
    }
  }, 300_000);
});
