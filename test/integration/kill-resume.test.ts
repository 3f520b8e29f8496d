import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { type Dirent, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import type { ImageEventDetail } from '../../src/bus/types.ts';
import { startLocalDynamo } from '../../src/cli/local-dynamodb.ts';
import { buildS3Notification, LOCAL_CREDENTIALS } from '../../src/cli/local-s3.ts';
import { decode } from '../../src/codecs/index.ts';
import type { InputFormat } from '../../src/core/formats.ts';
import { sniffFormat } from '../../src/image/sniff.ts';
import type { Manifest, QuarantineRecord } from '../../src/pipeline/records.ts';
import { DynamoStatusStore } from '../../src/status/dynamodb.ts';
import { CLI, REPO_ROOT, runCli } from '../support/cli.ts';
import { FIXTURES, readFixture } from '../support/fixtures.ts';
import { startTestS3 } from '../support/s3.ts';
import { hasTool, metadataTagsUnder } from '../support/tools.ts';

/**
 * Kill and resume, twice. `imgpipe process fixtures` (every fixture: the photos, the 15.9 MP photo, the
 * edge cases and the files that must be quarantined) is killed with SIGKILL once it has finished
 * some images and is part-way through another (some of its outputs written, not its manifest),
 * then run again. The rerun completes the batch: what was finished is skipped, nothing is
 * duplicated or left half-written, and every output decodes and carries no metadata. And the
 * function's entry point (`index.handler`, as the container runs it) in a child process, given one
 * event of many records against a local S3 server, killed the same way and invoked again.
 */
const work = mkdtempSync(join(tmpdir(), 'imgpipe-kill-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Every file under root, relative, with `/` separators. */
function filesUnder(root: string): string[] {
  let entries: Dirent[];
  try {
    entries = readdirSync(root, { recursive: true, withFileTypes: true }) as Dirent[];
  } catch {
    return [];
  }
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(root, join(e.parentPath, e.name)).split(sep).join('/'))
    .sort();
}

const MANIFESTS = 'manifests/';
const VARIANTS = ['large/', 'medium/', 'small/'];
const sourceOfOutput = (file: string) => file.slice(file.indexOf('/') + 1).replace(/\.(jpg|webp|avif)$/, '');
const sourceOfManifest = (file: string) => file.slice(MANIFESTS.length, -'.json'.length);

const VALID = FIXTURES.filter((f) => f.expect === 'ok').length;

/** Runs the batch and kills it once an image is half-written: outputs on disk, its manifest not. */
function runUntilHalfWritten(out: string): Promise<{ manifests: number; orphans: string[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'process', 'fixtures', '--out', out, '--quiet'], {
      cwd: REPO_ROOT,
      stdio: 'ignore',
    });
    let seen: { manifests: number; orphans: string[] } | undefined;
    const poll = setInterval(() => {
      const files = filesUnder(out);
      const done = new Set(
        files.filter((f) => f.startsWith(MANIFESTS) && !f.includes('%~')).map(sourceOfManifest),
      );
      const orphans = files.filter(
        (f) => VARIANTS.some((v) => f.startsWith(v)) && !done.has(sourceOfOutput(f)) && !f.includes('%~'),
      );
      // The window in which an image is half-written is short: a poll slowed by a loaded machine
      // could miss every one, and the batch end unkilled. Two images before the end, it is killed
      // whatever it is doing.
      if ((done.size >= 3 && orphans.length > 0) || done.size >= VALID - 2) {
        seen = { manifests: done.size, orphans };
        clearInterval(poll);
        child.kill('SIGKILL');
      }
    }, 10);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearInterval(poll);
      if (seen && signal === 'SIGKILL') resolve(seen);
      else reject(new Error(`imgpipe process ended (${code ?? signal}) before it was seen half-way`));
    });
  });
}

describe('kill and resume', () => {
  it('completes a batch killed mid-image on the next run, without duplicate, stray or corrupt outputs', {
    timeout: 240_000,
  }, async () => {
    const out = join(work, 'out');
    const killed = await runUntilHalfWritten(out);
    const valid = FIXTURES.filter((f) => f.expect === 'ok');
    expect(killed.manifests).toBeLessThan(valid.length);
    const before = new Map(
      filesUnder(out)
        .filter((f) => f.startsWith(MANIFESTS) && !f.includes('%~'))
        .map((f) => [f, readFileSync(join(out, f), 'utf8')]),
    );
    const temporaryAtKill = filesUnder(out).filter((f) => f.includes('%~'));

    const rerun = await runCli(['process', 'fixtures', '--out', out, '--json'], { timeoutMs: 200_000 });
    expect(rerun.stderr).toBe('');
    expect(rerun.code).toBe(0);
    const summary = JSON.parse(rerun.stdout) as { inputs: { key: string; outcome: string }[] };
    const outcomes = new Map(summary.inputs.map((i) => [i.key, i.outcome]));
    // What was finished before the kill is skipped, not redone; everything else is done now.
    for (const manifest of before.keys()) expect(outcomes.get(sourceOfManifest(manifest))).toBe('duplicate');
    expect(
      [...outcomes.values()].filter((o) => o !== 'duplicate' && o !== 'processed' && o !== 'quarantined'),
    ).toEqual([]);
    for (const [file, text] of before) expect(readFileSync(join(out, file), 'utf8'), file).toBe(text);

    // Exactly the files the manifests and quarantine records name: no temporary file, no leftover.
    const expected = new Set<string>();
    let decoded = 0;
    for (const fixture of FIXTURES) {
      if (fixture.expect !== 'ok') {
        const record = JSON.parse(
          readFileSync(join(out, 'quarantine/reasons', `${fixture.path}.json`), 'utf8'),
        ) as QuarantineRecord;
        expect(record.reason, fixture.path).toBe(fixture.expect);
        const copy = readFileSync(join(out, 'quarantine/objects', fixture.path));
        expect(createHash('sha256').update(copy).digest('hex')).toBe(
          createHash('sha256')
            .update(readFileSync(join(REPO_ROOT, 'fixtures', fixture.path)))
            .digest('hex'),
        );
        expected.add(`quarantine/reasons/${fixture.path}.json`).add(`quarantine/objects/${fixture.path}`);
        continue;
      }
      const manifestFile = `${MANIFESTS}${fixture.path}.json`;
      const manifest = JSON.parse(readFileSync(join(out, manifestFile), 'utf8')) as Manifest;
      expected.add(manifestFile);
      for (const entry of manifest.outputs) {
        // Decoded back: a truncated or half-written output fails here.
        const bytes = readFileSync(join(out, entry.key));
        expect(bytes.length, entry.key).toBe(entry.bytes);
        expect(sniffFormat(bytes), entry.key).toBe(entry.format);
        const image = await decode(entry.format as InputFormat, bytes);
        expect([image.width, image.height], entry.key).toEqual([entry.width, entry.height]);
        expected.add(entry.key);
        decoded++;
      }
    }
    const files = filesUnder(out);
    // The repo's text files (LICENSES, README, index.json) are quarantined too: not images.
    const others = files.filter((f) => !expected.has(f) && !f.includes('%~'));
    expect(others.filter((f) => !f.startsWith('quarantine/'))).toEqual([]);
    // A file being written when the process was killed stays as a temporary file (never listed,
    // never read as an output: README "Reliability"); the rerun itself leaves none.
    expect(files.filter((f) => f.includes('%~') && !temporaryAtKill.includes(f))).toEqual([]);

    // Privacy: no output of the whole fixture run carries EXIF, GPS, XMP or an ICC profile.
    let tagged = 0;
    if (hasTool('exiftool')) {
      const tags = metadataTagsUnder(join(out, 'large'));
      for (const [path, found] of metadataTagsUnder(join(out, 'medium'))) tags.set(path, found);
      for (const [path, found] of metadataTagsUnder(join(out, 'small'))) tags.set(path, found);
      expect(tags.size).toBe(decoded);
      expect([...tags].filter(([, found]) => found.length > 0)).toEqual([]);
      tagged = tags.size;
    }
    console.log(
      `\nKill and resume (test/integration/kill-resume.test.ts)\n` +
        `  killed after              ${killed.manifests} of ${valid.length} images, ${killed.orphans.length} outputs of unfinished images and ${temporaryAtKill.length} temporary files on disk\n` +
        `  rerun                     ${[...new Set(outcomes.values())].map((o) => `${o} ${[...outcomes.values()].filter((v) => v === o).length}`).join(', ')}\n` +
        `  checked                   ${decoded} outputs decoded, ${tagged} read by exiftool: no EXIF, GPS, XMP or ICC\n`,
    );
  });

  it('completes a Lambda batch killed mid-image when the event is delivered again', {
    timeout: 240_000,
  }, async () => {
    const s3 = await startTestS3(['uploads', 'variants', 'rejected']);
    try {
      const inputs = [
        'photos/portrait-friends-dogs.jpg',
        'edge/formats/grayscale.jpg',
        'edge/formats/lossy.webp',
        'edge/formats/avif-8bit-420.avif',
        'edge/colour/p3-photo.heic',
        'edge/orientation/photo-exif-orientation-6.jpg',
        'edge/broken/text-named.jpg',
        'edge/formats/progressive.jpg',
        'edge/formats/cmyk.jpg',
      ];
      const records = [];
      for (const [i, path] of inputs.entries()) {
        const key = `batch/${i}/${path.split('/').pop()}`;
        const body = readFixture(path);
        const put = await s3.client.send(new PutObjectCommand({ Bucket: 'uploads', Key: key, Body: body }));
        records.push(
          ...buildS3Notification({ bucket: 'uploads', key, size: body.length, etag: put.ETag }).Records,
        );
      }
      const eventFile = join(work, 'event.json');
      writeFileSync(eventFile, JSON.stringify({ Records: records }));
      const env = {
        ...process.env,
        IMGPIPE_OUTPUT_BUCKET: 'variants',
        IMGPIPE_QUARANTINE_BUCKET: 'rejected',
        IMGPIPE_CONFIG: JSON.stringify({
          variants: [
            { name: 'large', width: 480 },
            { name: 'small', width: 160 },
          ],
          formats: { jpeg: {}, webp: {}, avif: { speed: 9 } },
        }),
        IMGPIPE_WORKERS: '1',
        IMGPIPE_S3_FORCE_PATH_STYLE: 'true',
        AWS_ENDPOINT_URL_S3: s3.endpoint,
        AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
        AWS_REGION: 'us-east-1',
        POWERTOOLS_METRICS_DISABLED: 'true',
        POWERTOOLS_LOG_LEVEL: 'SILENT',
      };
      const invoke = () =>
        spawn(process.execPath, [join(REPO_ROOT, 'test/support/handler-child.ts'), eventFile], {
          cwd: REPO_ROOT,
          env,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
      const listOutputs = async () => {
        const found = new Map<string, string>();
        let token: string | undefined;
        do {
          const page = await s3.client.send(
            new ListObjectsV2Command({ Bucket: 'variants', ContinuationToken: token }),
          );
          for (const o of page.Contents ?? []) found.set(o.Key!, `${o.ETag} ${o.LastModified?.getTime()}`);
          token = page.NextContinuationToken;
        } while (token);
        return found;
      };

      // First invocation: killed once some images are done and another one is half-written.
      const valid = inputs.filter((p) => !p.includes('broken/')).length;
      const first = invoke();
      const exited = new Promise<string | null>((resolve) =>
        first.on('close', (_code, signal) => resolve(signal)),
      );
      let killedAt: Map<string, string> | undefined;
      let running = true;
      void exited.then(() => {
        running = false;
      });
      while (running && !killedAt) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        const listed = await listOutputs();
        const done = new Set([...listed.keys()].filter((k) => k.startsWith(MANIFESTS)).map(sourceOfManifest));
        const half = [...listed.keys()].filter(
          (k) => !k.startsWith(MANIFESTS) && !done.has(sourceOfOutput(k)),
        );
        // The window in which an image is half-written is short (its outputs are written once
        // encoded): a poll slowed by a loaded machine could miss every one, and the batch ended
        // unkilled. Past the sixth image of eight, it is killed whatever it is doing.
        if ((done.size >= 2 && half.length > 0) || done.size >= valid - 2) {
          first.kill('SIGKILL');
          killedAt = listed;
        }
      }
      expect(await exited, 'killed while the batch was running').toBe('SIGKILL');
      const before = await listOutputs();
      const manifestsBefore = [...before].filter(([k]) => k.startsWith(MANIFESTS));
      expect(manifestsBefore.length).toBeLessThan(valid);

      // The event again (Lambda's retry): everything done, nothing done twice.
      const second = invoke();
      let stdout = '';
      let stderr = '';
      second.stdout!.on('data', (chunk) => (stdout += chunk));
      second.stderr!.on('data', (chunk) => (stderr += chunk));
      const code = await new Promise<number | null>((resolve) => second.on('close', resolve));
      expect(stderr).toBe('');
      expect(code).toBe(0);
      const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
        records: { key: string; status: string }[];
      };
      const statusOf = new Map(result.records.map((r) => [r.key, r.status]));
      for (const [manifest] of manifestsBefore)
        expect(statusOf.get(sourceOfManifest(manifest))).toBe('duplicate');
      const after = await listOutputs();
      for (const [manifest, version] of manifestsBefore) expect(after.get(manifest)).toBe(version);

      const expected = new Set<string>();
      let decoded = 0;
      for (const record of records) {
        const key = decodeURIComponent(record.s3.object.key.replaceAll('+', ' '));
        if (key.endsWith('text-named.jpg')) {
          expect(statusOf.get(key)).toBe('quarantined');
          continue;
        }
        const manifestKey = `${MANIFESTS}${key}.json`;
        const manifest = JSON.parse(
          await (
            await s3.client.send(new GetObjectCommand({ Bucket: 'variants', Key: manifestKey }))
          ).Body!.transformToString(),
        ) as Manifest;
        expected.add(manifestKey);
        for (const entry of manifest.outputs) {
          const object = await s3.client.send(new GetObjectCommand({ Bucket: 'variants', Key: entry.key }));
          const bytes = await object.Body!.transformToByteArray();
          expect(bytes.length, entry.key).toBe(entry.bytes);
          const image = await decode(sniffFormat(bytes) as InputFormat, bytes);
          expect([image.width, image.height], entry.key).toEqual([entry.width, entry.height]);
          expected.add(entry.key);
          decoded++;
        }
      }
      expect([...after.keys()].sort()).toEqual([...expected].sort());
      console.log(
        `\nKill and resume, index.handler (test/integration/kill-resume.test.ts)\n` +
          `  killed after              ${manifestsBefore.length} of ${valid} images of a ${records.length}-record event, ${[...killedAt!.keys()].filter((k) => !k.startsWith(MANIFESTS) && !manifestsBefore.some(([m]) => sourceOfManifest(m) === sourceOfOutput(k))).length} outputs of unfinished images written\n` +
          `  invoked again             ${[...new Set(statusOf.values())].map((s) => `${s} ${[...statusOf.values()].filter((v) => v === s).length}`).join(', ')}; ${decoded} outputs decoded\n`,
      );
    } finally {
      await s3.stop();
    }
  });
  it('sends the outcome event of a function killed after its status write and before PutEvents when the event is delivered again', {
    timeout: 120_000,
  }, async () => {
    // S3 and DynamoDB are real API servers (s3rver, dynalite). EventBridge has no local server: a
    // mock of PutEvents over HTTP (the SDK's own request, through AWS_ENDPOINT_URL_EVENTBRIDGE),
    // which first holds the request unanswered, so the function is killed inside PutEvents, after
    // the status item was written; then it answers, and records what it was sent.
    const s3 = await startTestS3(['ev-uploads', 'ev-variants', 'ev-rejected']);
    const dynamo = await startLocalDynamo();
    let answer = false;
    const held: string[] = [];
    const sent: string[] = [];
    const bus = createServer((request: IncomingMessage, response: ServerResponse) => {
      let body = '';
      request.on('data', (chunk) => (body += chunk));
      request.on('end', () => {
        const entries = (JSON.parse(body) as { Entries: { DetailType: string; Detail: string }[] }).Entries;
        const lines = entries.map((e) => `${e.DetailType} ${e.Detail}`);
        if (!answer) {
          held.push(...lines);
          return;
        }
        sent.push(...lines);
        response.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
        response.end(
          JSON.stringify({ FailedEntryCount: 0, Entries: entries.map((_, i) => ({ EventId: `e${i}` })) }),
        );
      });
    });
    await new Promise<void>((resolve) => bus.listen(0, '127.0.0.1', resolve));
    try {
      await dynamo.createStatusTable('kill-status');
      const key = 'events/photo.jpg';
      const body = readFixture('photos/colour-fig-red-bowl.jpg');
      const put = await s3.client.send(new PutObjectCommand({ Bucket: 'ev-uploads', Key: key, Body: body }));
      const eventFile = join(work, 'event-pending.json');
      writeFileSync(
        eventFile,
        JSON.stringify(
          buildS3Notification({
            bucket: 'ev-uploads',
            key,
            size: body.length,
            etag: put.ETag,
            sequencer: '0A00',
          }),
        ),
      );
      const env = {
        ...process.env,
        IMGPIPE_OUTPUT_BUCKET: 'ev-variants',
        IMGPIPE_QUARANTINE_BUCKET: 'ev-rejected',
        IMGPIPE_STATUS_TABLE: 'kill-status',
        IMGPIPE_EVENT_BUS: 'imgpipe-test',
        IMGPIPE_CONFIG: JSON.stringify({ variants: [{ name: 'small', width: 160 }], formats: { webp: {} } }),
        IMGPIPE_WORKERS: '1',
        IMGPIPE_S3_FORCE_PATH_STYLE: 'true',
        AWS_ENDPOINT_URL_S3: s3.endpoint,
        AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
        AWS_ENDPOINT_URL_EVENTBRIDGE: `http://127.0.0.1:${(bus.address() as { port: number }).port}`,
        AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
        AWS_REGION: 'us-east-1',
        POWERTOOLS_METRICS_DISABLED: 'true',
        POWERTOOLS_LOG_LEVEL: 'SILENT',
      };
      const invoke = () =>
        spawn(process.execPath, [join(REPO_ROOT, 'test/support/handler-child.ts'), eventFile], {
          cwd: REPO_ROOT,
          env,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
      const status = new DynamoStatusStore(dynamo.client, 'kill-status');

      // First invocation: killed once its PutEvents has reached the bus, unanswered.
      const first = invoke();
      const exited = new Promise<string | null>((resolve) =>
        first.on('close', (_code, signal) => resolve(signal)),
      );
      let running = true;
      void exited.then(() => {
        running = false;
      });
      while (running && held.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
      first.kill('SIGKILL');
      expect(await exited, 'killed inside PutEvents').toBe('SIGKILL');
      expect(held.map((line) => line.split(' {')[0])).toEqual(['Image Processed']);
      // The status write came first: the outcome is recorded, its event still pending.
      const recorded = await status.get('ev-uploads', key);
      expect(recorded).toMatchObject({ status: 'processed', pendingEvent: { time: expect.any(String) } });

      // The event again (Lambda's retry): a duplicate, which sends the event the killed attempt
      // could not, with the same detail, once, and then clears the mark.
      answer = true;
      const second = invoke();
      let stdout = '';
      let stderr = '';
      second.stdout!.on('data', (chunk) => (stdout += chunk));
      second.stderr!.on('data', (chunk) => (stderr += chunk));
      const code = await new Promise<number | null>((resolve) => second.on('close', resolve));
      expect(stderr).toBe('');
      expect(code).toBe(0);
      const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as { records: { status: string }[] };
      expect(result.records.map((r) => r.status)).toEqual(['duplicate']);
      expect(sent).toEqual(held);
      expect((JSON.parse(sent[0]!.slice(sent[0]!.indexOf('{'))) as ImageEventDetail).sequencer).toBe('0A00');
      const after = await status.get('ev-uploads', key);
      expect(after?.pendingEvent).toBeUndefined();
      expect(after).toMatchObject({ status: 'processed', updatedAt: recorded?.updatedAt });
    } finally {
      bus.closeAllConnections();
      await new Promise((resolve) => bus.close(resolve));
      await dynamo.close();
      await s3.stop();
    }
  });
});
