import { loadPipelineConfig, loadWorkers } from '../config/index.ts';
import { TRANSFORM_SETTINGS } from '../config/settings.ts';
import type { PipelineConfig } from '../core/config.ts';
import { ConfigError, describeError } from '../core/errors.ts';
import { VERSION } from '../core/runtime.ts';
import { didYouMean } from '../core/suggest.ts';
import { ApiError, keyPath } from '../handlers/http.ts';
import { SIGNING_KEYS_PLACEHOLDER } from '../handlers/transform.ts';
import {
  checkSignedResultKeys,
  checkSignOptions,
  keyFromPath,
  SIGNING_KEY_MIN_LENGTH,
  signingKeyProblem,
  signUrl,
  TRANSFORM_PATH,
} from '../handlers/transform-request.ts';
import { availableCpus } from '../pipeline/cpus.ts';
import {
  CommandFailure,
  type CommandSpec,
  HELP_OPTION,
  integerFlag,
  parseCommandLine,
  renderHelp,
  UsageError,
} from './args.ts';
import {
  DEFAULT_DEV_DIR,
  DEFAULT_DEV_PORT,
  DEV_MARKER,
  DEV_SIGNING_KEY,
  defaultSamples,
  runDevCommand,
  SIGNING_KEY_ENV,
} from './dev.ts';
import { UPLOAD_THROTTLE } from './local-api.ts';
import { DEV_DEFAULT_USER, IssuerFileError, issuerFile, LocalIssuer } from './local-oidc.ts';
import { runProcessCommand } from './process.ts';
import { DEV_REPROCESS_STATE_MACHINE, runReprocessCommand, STATE_MACHINE_ENV } from './reprocess.ts';
import { DEV_STATUS_TABLE, runStatusCommand, STATUS_TABLE_ENV } from './status.ts';
import { printable, printableStack } from './table.ts';

const CONFIG_OPTION = {
  name: 'config',
  short: 'c',
  value: '<file>',
  description:
    'Pipeline document (JSON; schema in docs/pipeline.schema.json). Without it, IMGPIPE_CONFIG or IMGPIPE_CONFIG_FILE, else the defaults. IMGPIPE_* variables override the document either way.',
} as const;
/** imgpipe dev's highest --port: it listens on the three after it too. */
const MAX_DEV_PORT = 65_535 - 3;
const VERBOSE_OPTION = {
  name: 'verbose',
  description: 'Show the stack of an error (so does DEBUG=1).',
} as const;

export const PROCESS_COMMAND: CommandSpec = {
  command: 'imgpipe process',
  usage: 'imgpipe process <file|folder|glob|->... --out <dir> [options]',
  summary:
    'Runs the pipeline on local images into <dir>, with the key layout, manifests and quarantine records the function writes to S3.',
  description: [
    'Folders are read recursively (dot-files and anything under --out skipped), following symbolic links (a',
    'link to nothing is a failed input); a file keeps its path below the folder named as its key',
    '(photos/2024/cat.jpg gives large/2024/cat.jpg.webp with `imgpipe process photos`). Quoted globs are',
    "expanded, skipping the same, a match keyed by its path below the glob's part before its first wildcard",
    "(the same key with 'photos/**/*.jpg'); - reads one image from standard input (its key from --name).",
    'Two inputs with the same key are refused: they would write the same outputs. Inputs whose manifest is',
    'current are skipped (--force redoes them); quarantined inputs are copied under <dir>/quarantine/ with',
    'their reason.',
  ].join('\n'),
  positionals: true,
  options: [
    {
      name: 'out',
      short: 'o',
      value: '<dir>',
      description: 'Where outputs, manifests and quarantine go (created if needed).',
    },
    CONFIG_OPTION,
    { name: 'force', short: 'f', description: 'Process inputs again even when their manifest is current.' },
    {
      name: 'concurrency',
      short: 'j',
      value: '<n>',
      description:
        'Files in flight at once, 1 to 64 (default: the CPUs this process may use). Encodes run in a pool of IMGPIPE_WORKERS threads (0, the default, derives them from the CPUs as the function does); outputs are the same bytes either way.',
    },
    {
      name: 'dry-run',
      short: 'n',
      description:
        'Print the variants and keys each input would get (from its header; nothing decoded or written).',
    },
    {
      name: 'json',
      description:
        'Print one JSON summary on stdout (per input: outcome, reason, outputs with sizes and bytes; totals) and no progress.',
    },
    { name: 'quiet', short: 'q', description: 'Print nothing but failures.' },
    {
      name: 'name',
      value: '<key>',
      description: 'The key of the image read from standard input with - (default: stdin).',
    },
    {
      name: 'width',
      value: '<px>',
      description: "Quick one-off job: one variant this wide, instead of the document's variants.",
    },
    {
      name: 'height',
      value: '<px>',
      description: 'Quick one-off job: one variant this high (with --width: the box).',
    },
    {
      name: 'fit',
      value: '<fit>',
      description: 'With --width and --height: inside (default), cover (crop) or contain (pad).',
    },
    {
      name: 'format',
      value: '<list>',
      description: 'Output formats, comma-separated (jpeg, webp, avif, png), for every variant.',
    },
    { name: 'quality', value: '<n>', description: 'Quality of every output format that has one.' },
    VERBOSE_OPTION,
    HELP_OPTION,
  ],
  examples: [
    'imgpipe process photos --out public/img',
    "imgpipe process 'uploads/**/*.jpg' -o out -j 4 --json > summary.json",
    'imgpipe process cat.jpg -o out --width 800 --format webp,avif --quality 70',
    'curl -s https://example.com/cat.jpg | imgpipe process - --name cats/cat.jpg -o out',
    'imgpipe process photos -o out --dry-run',
  ],
  notes: [
    'Precedence: flags, then IMGPIPE_* variables, then the document, then the defaults.',
    'Exit status: 0 when every input was processed, already done or quarantined, or the folders given hold',
    'nothing to process (a run of 0: an empty drop folder); 1 when any failed for another reason or went',
    'missing while the run was on; 2 for a usage or configuration error (a file or glob that names nothing',
    'among them); 130 when interrupted (143 for SIGTERM; run again to resume). A dry run exits 1 when an',
    'input cannot be read, and 130 or 143 when interrupted (it wrote nothing).',
  ].join('\n'),
};

export const DEV_COMMAND: CommandSpec = {
  command: 'imgpipe dev',
  usage: 'imgpipe dev [options]',
  summary:
    'Starts a local S3-compatible server (s3rver) with buckets imgpipe-source, imgpipe-output and imgpipe-quarantine, delivers each object created in (or removed from) the source bucket to the Lambda handler as S3 would (one event at a time, two retries, then a dead letter), uploads the sample photos and keeps serving until Ctrl-C.',
  description: [
    'Beside it: the HTTP API (index.api) behind a local API Gateway on --port + 2, with a local OpenID',
    'Connect issuer that verifies tokens as the JWT authorizer does, and the web page at its root.',
    '`imgpipe dev token` prints a token for the API. On --port + 3, the Step Functions API with the bulk',
    'reprocessing state machine (terraform/modules/workflow/definitions/reprocess.asl.json, run by',
    'aws-local-stepfunctions with the real tasks; its S3 item reader is a listing of the local server and each',
    'object a batch of one): `imgpipe reprocess s3://imgpipe-source/<prefix> --endpoint <url>`.',
    '',
    'With --workflow, uploads go through the per-upload state machine (definitions/upload.asl.json) instead,',
    'as the workflow mode does on AWS: Inspect, Scan, Process, Quarantine, RecordFailure run the real task',
    'entry points in this process. The malware scan runs when clamd is installed and a ClamAV database is in',
    's3://imgpipe-workflow/clamav/ (copied there from --clamav-db at start), or when --scan demands it;',
    'content moderation is always off locally: Amazon Rekognition has no local server.',
  ].join('\n'),
  options: [
    {
      name: 'port',
      short: 'p',
      value: '<n>',
      description: `Port of the S3 server (default ${DEFAULT_DEV_PORT}; 0 picks free ones), at most ${MAX_DEV_PORT}: the status table (DynamoDB), the API and Step Functions listen on the next three.`,
    },
    {
      name: 'host',
      value: '<addr>',
      description:
        "Address to listen on, one of this machine's (default 127.0.0.1); 0.0.0.0 or :: for all of them: the URLs printed are then localhost's (the web page signs in there), and the API's at each network address; the API's upload and output URLs name the address it was called at.",
    },
    {
      name: 'dir',
      short: 'd',
      value: '<dir>',
      description: `Where the buckets are stored (default ${DEFAULT_DEV_DIR}).`,
    },
    {
      name: 'fresh',
      description: `Start from empty buckets: deletes only what imgpipe dev created in --dir (its buckets, marked by a ${DEV_MARKER} file) and refuses a folder it did not create.`,
    },
    {
      name: 'once',
      description: 'Exit after the samples are processed, with totals (status 1 if any event failed).',
    },
    { name: 'no-samples', description: 'Do not upload the sample photos at start.' },
    {
      name: 'workflow',
      description:
        'Uploads through the per-upload Step Functions workflow (inspect, scan, process; quarantine, record failure), run locally, instead of the S3 handler.',
    },
    {
      name: 'scan',
      description:
        'With --workflow: scan every upload with ClamAV, or refuse to start (clamd or the database missing).',
    },
    {
      name: 'no-scan',
      description: 'With --workflow: no malware scan (default: scan when clamd and a database are there).',
    },
    {
      name: 'clamav-db',
      value: '<dir>',
      description: `With --workflow: a ClamAV database folder copied to s3://imgpipe-workflow/clamav/ when that is empty (default /var/lib/clamav).`,
    },
    {
      name: 'api-rate',
      value: '<n>',
      description:
        'Requests per second the local API Gateway lets through on each route, 1 to 100000 (default 50), as stage throttling (a bucket per route).',
    },
    { name: 'api-burst', value: '<n>', description: 'Its burst, 1 to 100000 (default 100).' },
    {
      name: 'upload-rate',
      value: '<n>',
      description:
        'Uploads (POST /uploads) per second, instead of --api-rate for them, 1 to 100000 (default 10), as route throttling.',
    },
    { name: 'upload-burst', value: '<n>', description: 'Their burst, 1 to 100000 (default 20).' },
    {
      name: 'cors-origin',
      value: '<origin>',
      multiple: true,
      description:
        "An origin (http://localhost:5173) whose pages may call the API and upload to the source bucket, as the api module's cors_allowed_origins: a front end in development on its own origin. Repeatable; * for any.",
    },
    CONFIG_OPTION,
    {
      name: 'verbose',
      description: "Also print the handler's JSON logs and EMF metrics, and the stack of an error.",
    },
    HELP_OPTION,
  ],
  examples: [
    'imgpipe dev',
    'imgpipe dev --once --port 0 --dir /tmp/imgpipe-dev --fresh',
    'imgpipe dev -c thumbs.json --verbose',
    'imgpipe dev --workflow --no-scan',
    `curl -H "Authorization: Bearer $(npx imgpipe dev token)" 'http://127.0.0.1:4570/images?status=quarantined'`,
  ],
  notes: [
    'Exit status: 0 when stopped (or --once with every event handled); 1 when an event failed; 2 for a usage or',
    'configuration error; 130 (Ctrl-C) or 143 (SIGTERM) when stopped while starting, with --once, or by a second',
    'signal while stopping: whatever it had started (clamd included) is stopped first.',
  ].join('\n'),
};

export const STATUS_COMMAND: CommandSpec = {
  command: 'imgpipe status',
  usage: 'imgpipe status <s3://bucket/key> | --failed | --quarantined | --processing [options]',
  summary:
    'Shows what happened to an upload, from the status table: its status, the reason and message of a rejection or failure, the image, its outputs, attempts and timings. Or lists the objects that need attention, newest first.',
  positionals: true,
  options: [
    { name: 'failed', description: 'List failed objects (the default listing).' },
    { name: 'quarantined', description: 'List quarantined objects.' },
    { name: 'processing', description: 'List objects still (or stuck) processing.' },
    {
      name: 'since',
      value: '<when>',
      description:
        "Only those updated since: 30m, 12h, 1d, 2w or an ISO date (a time without an offset is this machine's local time; a date alone is UTC midnight).",
    },
    { name: 'limit', value: '<n>', description: 'List at most n objects, 1 to 10000 (default 50).' },
    {
      name: 'table',
      value: '<name>',
      description: `The status table (default IMGPIPE_STATUS_TABLE, else imgpipe dev's ${DEV_STATUS_TABLE}).`,
    },
    {
      name: 'endpoint',
      value: '<url>',
      description:
        "A DynamoDB endpoint, e.g. imgpipe dev's (it prints it); AWS otherwise, with the SDK's credentials and region.",
    },
    { name: 'json', description: 'Print the item (or the list) as JSON.' },
    HELP_OPTION,
  ],
  examples: [
    'imgpipe status s3://imgpipe-source/samples/text-named.jpg --endpoint http://127.0.0.1:4569',
    'imgpipe status --table imgpipe-prod-status s3://uploads/photos/cat.jpg',
    'imgpipe status --table imgpipe-prod-status --quarantined --since 1d',
  ],
  notes:
    'Exit status: 0 when found (or listed); 1 when the object has no status, or the table cannot be read (nobody answers at --endpoint); 2 for a usage error (a --table that does not exist too).',
};

export const REPROCESS_COMMAND: CommandSpec = {
  command: 'imgpipe reprocess',
  usage: 'imgpipe reprocess s3://<bucket>/<prefix> [--only-stale | --force] [--concurrency <n>] [options]',
  summary:
    'Reprocesses every object under a prefix of the source bucket on the bulk reprocessing state machine (Step Functions, a Distributed Map), following the run with a progress bar to a summary: objects processed, skipped as current, quarantined and failed, and where the results were written.',
  description: [
    'By default (--only-stale) an object whose outputs are current for the deployed configuration is skipped;',
    '--force redoes every object. s3://<bucket> or s3://<bucket>/ takes the whole bucket. The run itself is a',
    'Standard execution on AWS: Ctrl-C stops following it, not the run, and prints how to stop it',
    '(aws stepfunctions stop-execution --execution-arn <arn>). Against imgpipe dev, give --endpoint.',
  ].join('\n'),
  positionals: true,
  options: [
    {
      name: 'only-stale',
      description: 'Skip objects whose outputs are current (the default; the opposite of --force).',
    },
    { name: 'force', short: 'f', description: 'Reprocess every object, current or not.' },
    {
      name: 'concurrency',
      short: 'j',
      value: '<n>',
      description:
        "Batches processed at once (the map's MaxConcurrency, 1-10000, and at most the deployment's cap, Terraform's reprocess_max_concurrency, 100 by default: a run over it fails at its Plan step, exit 2; default 10 or the cap if lower).",
    },
    {
      name: 'batch-size',
      value: '<n>',
      description:
        'Objects per batch, one function invocation each (1-100; default 10). In the workflow mode each object is a batch of its own (one run of the per-upload workflow): anything but 1 fails at its Plan step, exit 2.',
    },
    {
      name: 'state-machine',
      value: '<arn>',
      description: `The reprocess state machine (terraform output reprocess_state_machine_arn; default ${STATE_MACHINE_ENV}, else with --endpoint imgpipe dev's).`,
    },
    {
      name: 'endpoint',
      value: '<url>',
      description:
        "A Step Functions endpoint, e.g. imgpipe dev's (it prints it); AWS otherwise, with the SDK's credentials and the region of the ARN.",
    },
    {
      name: 'name',
      value: '<name>',
      description: 'Name of the execution: 1-80 letters, digits, - and _ (default imgpipe-reprocess-<time>).',
    },
    VERBOSE_OPTION,
    HELP_OPTION,
  ],
  examples: [
    'imgpipe reprocess s3://imgpipe-source/samples/ --endpoint http://127.0.0.1:4571',
    'export IMGPIPE_REPROCESS_STATE_MACHINE="$(terraform -chdir=terraform/deployment output -raw reprocess_state_machine_arn)"',
    'imgpipe reprocess s3://imgpipe-prod-source-123456789012/photos/ --only-stale --concurrency 50',
    'imgpipe reprocess s3://imgpipe-prod-source-123456789012/photos/2024/ --force',
  ],
  notes: [
    'Exit status: 0 when the run succeeded and no object failed; 1 when the run failed or any object failed',
    '(the failed keys are listed); 2 for a usage error (a bad s3:// URL, an unknown state machine, a --concurrency',
    "over the deployment's cap or a --batch-size other than 1 in the workflow mode, which its run's Plan step refuses); 130 when",
    'interrupted (143 for SIGTERM; the run goes on).',
  ].join('\n'),
};

export const DEV_TOKEN_COMMAND: CommandSpec = {
  command: 'imgpipe dev token',
  usage: 'imgpipe dev token [options]',
  summary:
    "Prints an access token for imgpipe dev's HTTP API, signed by its local issuer (the key in the data folder, made when imgpipe dev first started there).",
  options: [
    {
      name: 'sub',
      value: '<id>',
      description: `The user: the token's sub claim, owner of the uploads made with it (default ${DEV_DEFAULT_USER}).`,
    },
    { name: 'admin', description: 'In the admin group: may list and read every image.' },
    { name: 'scope', value: '<scopes>', description: 'Space-separated scopes (default openid).' },
    {
      name: 'expires',
      value: '<seconds>',
      description: 'Lifetime in seconds, 1 to 604800 (default 3600).',
    },
    {
      name: 'dir',
      short: 'd',
      value: '<dir>',
      description: `imgpipe dev's data folder (default ${DEFAULT_DEV_DIR}).`,
    },
    HELP_OPTION,
  ],
  examples: [
    'imgpipe dev token',
    `curl -H "Authorization: Bearer $(npx imgpipe dev token --sub alice)" 'http://127.0.0.1:4570/images?status=failed'`,
    'imgpipe dev token --admin --expires 600',
  ],
  notes:
    'Exit status: 0 with the token on standard output; 1 when the data folder has no issuer (imgpipe dev has not run there: start it first); 2 for a usage error.',
};

export const SIGN_COMMAND: CommandSpec = {
  command: 'imgpipe sign',
  usage:
    'imgpipe sign <key> --base <url> [--w <px>] [--h <px>] [--fit <fit>] [--fmt <format>] [--q <n>] [--dpr <n>] [--wm 0] [--expires <seconds>] [--leading-slash]',
  summary:
    'Prints a signed URL for an on-demand transformation of the source image <key> (index.transform): <base>/t/<key>?<parameters>&sig=<HMAC-SHA256>.',
  description: [
    `The key is ${SIGNING_KEY_ENV} (the newest line of the deployment's SecureString parameter: one key of at least`,
    '32 characters without whitespace, else a usage error, as the function would refuse its URLs); without it, the',
    'public key imgpipe dev accepts, with a note on standard error. Parameters are checked by the function, not',
    'here: a signed URL with a size the deployment does not allow is answered 400. A key with a . or .. segment',
    'is refused: browsers and CDNs resolve such segments, so no URL can name it; so is an empty key or one over',
    "1,024 bytes, or one whose results' keys would be (about 960 bytes: the function with its default settings",
    "answers 400), and an s3://bucket/key URI (give the key: the function reads the deployment's source bucket).",
    'A key beginning with / is refused unless --leading-slash says it really does.',
  ].join('\n'),
  positionals: true,
  options: [
    {
      name: 'base',
      value: '<url>',
      description: 'The CloudFront (or function URL, or imgpipe dev) base URL, without a path.',
    },
    { name: 'w', value: '<px>', description: 'Width of the box, in CSS pixels.' },
    { name: 'h', value: '<px>', description: 'Height of the box, in CSS pixels.' },
    { name: 'fit', value: '<fit>', description: 'inside (default), cover or contain.' },
    { name: 'fmt', value: '<format>', description: 'jpeg, webp, avif, png or auto (default: from Accept).' },
    { name: 'q', value: '<n>', description: "Quality (default: the pipeline document's)." },
    { name: 'dpr', value: '<n>', description: 'Device pixel ratio: 1, 1.5, 2, 2.5 or 3.' },
    {
      name: 'wm',
      value: '<0|1>',
      description: "0: without the pipeline document's watermark (accepted on signed URLs only).",
    },
    {
      name: 'expires',
      value: '<seconds>',
      description: 'Valid for this many seconds from now, 1 to 3153600000 (default: no expiry).',
    },
    {
      name: 'leading-slash',
      description:
        'The key really begins with / (S3 allows it): sign it so (/t//<key>). Without it, such a key is refused.',
    },
    HELP_OPTION,
  ],
  examples: [
    'imgpipe sign samples/colour-fig-red-bowl.jpg --base http://127.0.0.1:4570 --w 640 --fmt auto',
    'IMGPIPE_TRANSFORM_SIGNING_KEY=... imgpipe sign photos/cat.jpg --base https://d111111abcdef8.cloudfront.net --w 320 --dpr 2 --expires 86400',
  ],
  notes: 'Exit status: 0 with the URL on standard output; 2 for a usage error.',
};

/** 100 years: exp stays within the 12 digits the function reads. */
const MAX_EXPIRES_SECONDS = 100 * 365 * 24 * 3600;

const COMMANDS: Readonly<Record<string, CommandSpec>> = {
  process: PROCESS_COMMAND,
  dev: DEV_COMMAND,
  status: STATUS_COMMAND,
  reprocess: REPROCESS_COMMAND,
  sign: SIGN_COMMAND,
};

const GLOBAL_HELP = `Usage: imgpipe <command> [options]

imgpipe ${VERSION}: resizes and re-encodes images with WASM codecs, as the Lambda function does.

Commands:
  process   Run the pipeline on local files into a folder (same layout and manifests as in S3)
  dev       Run a local S3 server whose uploads go through the Lambda handler
  dev token Print an access token for the HTTP API that imgpipe dev serves
  status    Show what happened to an upload (the status table), or list failures
  reprocess Reprocess the objects under a prefix on Step Functions, with progress and a summary
  sign      Print a signed URL for an on-demand transformation

Options:
  -h, --help      Show this help (imgpipe <command> --help for a command's)
  -v, --version   Show the version

Examples:
  imgpipe process photos --out public/img
  imgpipe dev

Run imgpipe <command> --help for a command's options, examples and exit statuses.
`;

export async function main(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [command, ...rest] = argv;
  const debug = argv.includes('--verbose') || Boolean(env.DEBUG);
  try {
    if (command === undefined || command === '-h' || command === '--help') {
      process.stdout.write(GLOBAL_HELP);
      return 0;
    }
    if (command === 'help') {
      const topic = rest[0];
      if (topic === undefined) process.stdout.write(GLOBAL_HELP);
      else
        process.stdout.write(
          renderHelp(subcommandNamed(commandNamed(topic), rest[1]?.startsWith('-') ? undefined : rest[1])),
        );
      return 0;
    }
    if (command === '-v' || command === '-V' || command === '--version') {
      process.stdout.write(`${VERSION}\n`);
      return 0;
    }
    const named = commandNamed(command);
    const first = rest[0]?.startsWith('-') ? undefined : rest[0];
    const spec = subcommandNamed(named, first);
    const { values, positionals } = parseCommandLine(spec, spec === named ? rest : rest.slice(1));
    if (values.help) {
      process.stdout.write(renderHelp(spec));
      return 0;
    }
    if (spec === PROCESS_COMMAND) return await processCommand(values, positionals, env);
    if (spec === STATUS_COMMAND) return await statusCommand(values, positionals, env);
    if (spec === REPROCESS_COMMAND) return await reprocessCommand(values, positionals, env);
    if (spec === DEV_TOKEN_COMMAND) return await devTokenCommand(values);
    if (spec === SIGN_COMMAND) return signCommand(values, positionals, env);
    return await devCommand(values, env);
  } catch (error) {
    return report(error, debug);
  }
}

function commandNamed(name: string): CommandSpec {
  const spec = COMMANDS[name];
  if (spec) return spec;
  const what = name.startsWith('-') ? 'option' : 'command';
  // A subcommand without its command (imgpipe token) is named with it.
  const whole = name === 'token' ? ' (did you mean dev token?)' : didYouMean(name, Object.keys(COMMANDS));
  throw new UsageError(
    'imgpipe',
    `unknown ${what} ${what === 'command' ? JSON.stringify(name) : name}${whole}`,
  );
}

/**
 * `imgpipe dev token`, or the command itself when `word` (its first argument, not a flag) is
 * undefined. imgpipe dev takes no other argument: a typo of token is said so (help dev tokn
 * printed imgpipe dev's help), as imgpipe dev tokn says it.
 */
function subcommandNamed(spec: CommandSpec, word: string | undefined): CommandSpec {
  if (spec !== DEV_COMMAND || word === undefined) return spec;
  if (word === 'token') return DEV_TOKEN_COMMAND;
  throw new UsageError(
    spec.command,
    `unexpected argument ${JSON.stringify(word)}${didYouMean(word, ['token'])}`,
  );
}

type Values = Record<string, string | boolean | string[] | undefined>;
const text = (value: Values[string]) => (typeof value === 'string' ? value : undefined);

/**
 * A folder flag's value: '' (`--dir "$DATA"` with the variable unset) would name the current
 * folder, and imgpipe dev kept its buckets and issuer key among its files.
 */
function folderFlag(command: string, name: string, value: Values[string]): string | undefined {
  const folder = text(value);
  if (folder === '')
    throw new UsageError(
      command,
      `${name} is the empty string '' (an unset shell variable?), which names no folder: give a folder`,
    );
  return folder;
}

function loadConfig(values: Values, env: NodeJS.ProcessEnv, quick = false): PipelineConfig {
  const config = text(values.config);
  const flags = {
    ...(values.width !== undefined ? { width: text(values.width) } : {}),
    ...(values.height !== undefined ? { height: text(values.height) } : {}),
    ...(values.fit !== undefined ? { fit: text(values.fit) } : {}),
    ...(values.format !== undefined ? { formats: text(values.format) } : {}),
    ...(values.quality !== undefined ? { quality: text(values.quality) } : {}),
  };
  try {
    return loadPipelineConfig(env, {
      ...(config !== undefined ? { file: { path: config, setting: '--config' } } : {}),
      ...(quick && Object.keys(flags).length > 0 ? { flags: flags as Record<string, string> } : {}),
    });
  } catch (error) {
    // A quick flag's mistake is the command line's, as every other flag's: "imgpipe process: ...",
    // then where the help is (it was "imgpipe: ...", as for a bad IMGPIPE_* variable or document).
    if (error instanceof ConfigError && QUICK_FLAGS.includes(error.setting))
      throw new UsageError(PROCESS_COMMAND.command, error.message);
    throw error;
  }
}

/** The flags of a quick one-off job (config/flags.ts), which name themselves in their errors. */
const QUICK_FLAGS: readonly string[] = ['--width', '--height', '--fit', '--format', '--quality'];

async function processCommand(
  values: Values,
  positionals: string[],
  env: NodeJS.ProcessEnv,
): Promise<number> {
  const command = PROCESS_COMMAND.command;
  const config = loadConfig(values, env, true);
  const workers = loadWorkers(env);
  const concurrency = integerFlag(
    command,
    '--concurrency',
    text(values.concurrency),
    Math.max(1, Math.round(availableCpus(env))),
    1,
    64,
  );
  const out = text(values.out);
  if (out === undefined || out.trim() === '')
    throw new UsageError(command, '--out <dir> is required: where the outputs go');
  if (positionals.length === 0) {
    throw new UsageError(command, 'give at least one file, folder, glob or - (standard input)');
  }
  if (values.name !== undefined && !positionals.includes('-')) {
    throw new UsageError(
      command,
      '--name names the image read from standard input: give - as an input with it',
    );
  }
  const { exitCode } = await runProcessCommand({
    inputs: positionals,
    out,
    config,
    force: values.force === true,
    workers,
    concurrency,
    json: values.json === true,
    quiet: values.quiet === true,
    dryRun: values['dry-run'] === true,
    verbose: values.verbose === true,
    ...(text(values.name) !== undefined ? { stdinKey: text(values.name) } : {}),
    stdout: process.stdout,
    stderr: process.stderr,
  });
  return exitCode;
}

async function devCommand(values: Values, env: NodeJS.ProcessEnv): Promise<number> {
  const command = DEV_COMMAND.command;
  const portText = text(values.port);
  const port = portText === undefined ? DEFAULT_DEV_PORT : Number(portText);
  // The status table, the API and Step Functions listen on the next three ports: each must be one.
  if (!/^\d+$/.test(portText ?? '0') || !Number.isInteger(port) || port < 0 || port > MAX_DEV_PORT) {
    throw new UsageError(
      command,
      `Expected a port number between 0 and ${MAX_DEV_PORT} (imgpipe dev also listens on the next three) for --port but received ${JSON.stringify(portText)}`,
    );
  }
  const directory = folderFlag(command, '--dir', values.dir) ?? DEFAULT_DEV_DIR;
  const clamavDatabase = folderFlag(command, '--clamav-db', values['clamav-db']);
  const config = loadConfig(values, env);
  configuredSigningKey(command, env);
  if (values.scan === true && values['no-scan'] === true)
    throw new UsageError(command, 'choose --scan or --no-scan, not both');
  const workflowOnly = (['scan', 'no-scan', 'clamav-db'] as const).find((name) => values[name] !== undefined);
  if (workflowOnly !== undefined && values.workflow !== true)
    throw new UsageError(command, `--${workflowOnly} is for the per-upload workflow: add --workflow`);
  return await runDevCommand({
    workflow: values.workflow === true,
    scan: values.scan === true ? 'on' : values['no-scan'] === true ? 'off' : 'auto',
    ...(clamavDatabase !== undefined ? { clamavDatabase } : {}),
    host: text(values.host) ?? '127.0.0.1',
    port,
    directory,
    fresh: values.fresh === true,
    once: values.once === true,
    verbose: values.verbose === true,
    config,
    workers: loadWorkers(env),
    samples: values['no-samples'] === true ? [] : await defaultSamples(),
    apiThrottle: {
      rate: integerFlag(command, '--api-rate', text(values['api-rate']), 50, 1, 100_000),
      burst: integerFlag(command, '--api-burst', text(values['api-burst']), 100, 1, 100_000),
    },
    uploadThrottle: {
      rate: integerFlag(
        command,
        '--upload-rate',
        text(values['upload-rate']),
        UPLOAD_THROTTLE.rate,
        1,
        100_000,
      ),
      burst: integerFlag(
        command,
        '--upload-burst',
        text(values['upload-burst']),
        UPLOAD_THROTTLE.burst,
        1,
        100_000,
      ),
    },
    corsOrigins: corsOrigins(command, values['cors-origin']),
    stdout: process.stdout,
  });
}

/**
 * --cors-origin's values, each an origin as a browser sends it (the api module's
 * cors_allowed_origins rule): lowercase scheme://host[:port] without the scheme's default port, or *.
 */
function corsOrigins(command: string, value: unknown): string[] {
  const origins = Array.isArray(value) ? value.map(String) : typeof value === 'string' ? [value] : [];
  for (const origin of origins) {
    if (origin === '*') continue;
    if (
      !/^https?:\/\/[^/\s]+$/.test(origin) ||
      origin !== origin.toLowerCase() ||
      /^(https:\/\/[^/]+:443|http:\/\/[^/]+:80)$/.test(origin)
    )
      throw new UsageError(
        command,
        `Expected an origin as a browser sends it (lowercase scheme://host[:port], no path, no default port), such as http://localhost:5173, or *, for --cors-origin but received ${JSON.stringify(origin)}`,
      );
  }
  return origins;
}

/**
 * IMGPIPE_TRANSFORM_SIGNING_KEY, trimmed, or undefined when unset; a usage error naming the problem
 * (never the key) for one the function would never hold (the parameter's two lines, its
 * placeholder, a short one): `imgpipe sign` would print URLs the function refuses 403, "The
 * signature does not match", and `imgpipe dev` would accept URLs the deployment refuses.
 */
function configuredSigningKey(command: string, env: NodeJS.ProcessEnv): string | undefined {
  const secret = env[SIGNING_KEY_ENV]?.trim();
  if (secret === SIGNING_KEYS_PLACEHOLDER)
    throw new UsageError(
      command,
      `${SIGNING_KEY_ENV} holds terraform/modules/transform's placeholder: the signing keys were never set (the function refuses it)`,
    );
  const problem = secret ? signingKeyProblem(secret) : undefined;
  if (problem !== undefined)
    throw new UsageError(
      command,
      `${SIGNING_KEY_ENV} ${problem}: the function takes a key of at least ${SIGNING_KEY_MIN_LENGTH} characters without whitespace, and would refuse every URL signed with this`,
    );
  return secret || undefined;
}

async function devTokenCommand(values: Values): Promise<number> {
  const command = DEV_TOKEN_COMMAND.command;
  const sub = text(values.sub);
  if (sub !== undefined && !/^\S{1,128}$/.test(sub))
    throw new UsageError(
      command,
      `Expected 1 to 128 characters without spaces for --sub but received ${JSON.stringify(sub)}`,
    );
  const expiresInSeconds = integerFlag(command, '--expires', text(values.expires), 3600, 1, 7 * 24 * 3600);
  // The flags first: a bad one is a usage error (exit 2) whether or not imgpipe dev has run in --dir.
  const dir = folderFlag(command, '--dir', values.dir);
  const issuer = await LocalIssuer.find(dir ?? DEFAULT_DEV_DIR).catch((error: unknown) => {
    if (error instanceof IssuerFileError) throw new CommandFailure(command, error.message);
    throw error;
  });
  if (!issuer)
    throw new CommandFailure(
      command,
      `no local issuer to sign with: ${issuerFile(dir ?? DEFAULT_DEV_DIR)} does not exist, so imgpipe dev has not run ${dir === undefined ? 'in this folder' : 'with this --dir'}. Start it first (npx imgpipe dev${dir === undefined ? '' : ` --dir ${/^[\w./-]+$/.test(dir) ? dir : `'${dir.replace(/'/g, "'\\''")}'`}`}, from this folder): it creates the issuer's key there, and its API accepts the tokens signed with it`,
    );
  const token = issuer.token({
    ...(sub !== undefined ? { sub } : {}),
    admin: values.admin === true,
    ...(text(values.scope) !== undefined ? { scope: text(values.scope) } : {}),
    expiresInSeconds,
  });
  process.stdout.write(`${token}\n`);
  return 0;
}

function signCommand(values: Values, positionals: string[], env: NodeJS.ProcessEnv): number {
  const command = SIGN_COMMAND.command;
  if (positionals.length !== 1) throw new UsageError(command, 'give one source key, e.g. photos/cat.jpg');
  // The URI imgpipe status and reprocess take: signed as a key, its URL read the key "s3:" + "//…"
  // from the source bucket (404).
  const uri = /^s3:\/\/[^/]*\/(.*)$/.exec(positionals[0]!);
  if (uri)
    throw new UsageError(
      command,
      `Expected a source key such as photos/cat.jpg, not an s3:// URI, but received ${JSON.stringify(positionals[0])}: /t/<key> reads <key> in the deployment's source bucket${uri[1] ? ` (give ${JSON.stringify(uri[1])})` : ''}`,
    );
  // /cat.jpg was signed silently as /t//cat.jpg, which the function reads as the key "/cat.jpg" (404
  // for the cat.jpg meant). S3 takes a key beginning with /, so one is signed when said to be.
  const key = positionals[0]!;
  const leadingSlash = values['leading-slash'] === true;
  if (key.startsWith('/') && !leadingSlash) {
    const meant = key.replace(/^\/+/, '');
    throw new UsageError(
      command,
      `The source key ${JSON.stringify(key)} begins with /: its URL would name the key ${JSON.stringify(key)}${meant ? `, not ${JSON.stringify(meant)}: give ${JSON.stringify(meant)}` : ': give a key such as photos/cat.jpg'}, or add --leading-slash for a key that really begins with / (S3 allows one)`,
    );
  }
  if (leadingSlash && !key.startsWith('/'))
    throw new UsageError(
      command,
      `--leading-slash is for a key that begins with /, but received ${JSON.stringify(key)}: leave it out`,
    );
  try {
    // The key as the function will read it back from the URL's path: one it refuses (empty, over
    // S3's 1,024 bytes, a . or .. segment) is refused here, not signed into a URL that cannot work.
    keyFromPath(`${TRANSFORM_PATH}${keyPath(key)}`);
  } catch (error) {
    if (error instanceof ApiError) throw new UsageError(command, error.message);
    throw error;
  }
  const base = text(values.base);
  // No path: the function serves /t/<key> from the root (CloudFront's /t/* behaviour, the function
  // URL), so <base>/img/t/<key> would be answered 404.
  if (base === undefined)
    throw new UsageError(
      command,
      "--base <url> is required: the URL the transformations are served at, e.g. https://d111111abcdef8.cloudfront.net (terraform output transform_url), or imgpipe dev's http://127.0.0.1:4570",
    );
  if (!/^https?:\/\/[^/?#\s]+\/?$/.test(base))
    throw new UsageError(
      command,
      `Expected a URL such as https://d111111abcdef8.cloudfront.net (no path: transformations are under /t/ at its root) for --base but received ${JSON.stringify(base)}`,
    );
  const number = (name: string) => {
    const value = text(values[name]);
    if (value === undefined) return undefined;
    // A negative number is read too: the function's parser (checkSignOptions) names what it expects.
    if (!/^-?\d+(\.\d+)?$/.test(value))
      throw new UsageError(command, `Expected a number for --${name} but received ${JSON.stringify(value)}`);
    return Number(value);
  };
  // At least a second, whole seconds, and an exp of at most 12 digits, as the function reads it: an
  // --expires 0 URL was expired when printed, a longer exp answered "expired" forever.
  const expires =
    values.expires === undefined
      ? undefined
      : integerFlag(command, '--expires', text(values.expires), 0, 1, MAX_EXPIRES_SECONDS);
  const options = {
    ...(number('w') !== undefined ? { w: number('w') } : {}),
    ...(number('h') !== undefined ? { h: number('h') } : {}),
    ...(text(values.fit) !== undefined ? { fit: text(values.fit) } : {}),
    ...(text(values.fmt) !== undefined ? { fmt: text(values.fmt) } : {}),
    ...(number('q') !== undefined ? { q: number('q') } : {}),
    ...(number('dpr') !== undefined ? { dpr: number('dpr') } : {}),
    ...(number('wm') !== undefined ? { wm: number('wm') as 0 | 1 } : {}),
    ...(expires !== undefined ? { exp: Math.floor(Date.now() / 1000) + expires } : {}),
  };
  const pipeline = loadPipelineConfig({});
  try {
    // As the function reads them, with the widest configuration a deployment can have: --fit
    // weird, --fmt gif, --q 1000, --dpr 4, --wm 5 or --w 0 was signed into a URL every deployment
    // answers 400. (The defaults only give a quality when --q is not set.)
    checkSignOptions(key, options, pipeline.formatOptions);
  } catch (error) {
    if (error instanceof ApiError)
      throw new UsageError(
        command,
        `${error.field !== undefined ? `--${error.field}: ` : ''}${error.message}: the function refuses it (400) whatever its configuration`,
      );
    throw error;
  }
  const secret = configuredSigningKey(command, env);
  try {
    // The result is stored under a key made of the source key and the request: a source key of
    // about 950 to 1,024 bytes was signed into a URL the function answers 400, its result's key
    // being longer than S3 stores. Checked as the function checks it, with its default settings.
    checkSignedResultKeys(key, options, pipeline, secret ?? DEV_SIGNING_KEY);
  } catch (error) {
    if (error instanceof ApiError)
      throw new UsageError(
        command,
        `${error.message}: the function refuses it (400), with its default settings (results under ${TRANSFORM_SETTINGS.prefix.default})`,
      );
    throw error;
  }
  // The note only once every flag is good: it says a URL was signed.
  if (!secret)
    process.stderr.write(
      `imgpipe sign: ${SIGNING_KEY_ENV} is not set: signed with imgpipe dev's public key\n`,
    );
  const url = signUrl(base, key, options, secret ?? DEV_SIGNING_KEY);
  process.stdout.write(`${url}\n`);
  return 0;
}

async function statusCommand(values: Values, positionals: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const command = STATUS_COMMAND.command;
  const lists = (['failed', 'quarantined', 'processing'] as const).filter(
    (status) => values[status] === true,
  );
  if (lists.length > 1) throw new UsageError(command, `choose one of --${lists.join(', --')}`);
  if (positionals.length > 1) throw new UsageError(command, 'give one object, s3://<bucket>/<key>');
  if (positionals.length === 1 && lists.length === 1)
    throw new UsageError(command, `give an object or --${lists[0]}, not both`);
  // --since and --limit choose what a listing shows: with an object they would be ignored.
  const listingOnly = (['since', 'limit'] as const).find((name) => values[name] !== undefined);
  if (positionals.length === 1 && listingOnly !== undefined)
    throw new UsageError(
      command,
      `--${listingOnly} is for a listing (--failed, --quarantined, --processing), not one object: give ${positionals[0]} without it`,
    );
  const limit = integerFlag(command, '--limit', text(values.limit), 50, 1, 10_000);
  const endpoint = text(values.endpoint);
  // As imgpipe reprocess checks it: the SDK's "Invalid URL" came back as a failed DynamoDB list.
  if (endpoint !== undefined && !/^https?:\/\/[^/?#\s]+\/?$/.test(endpoint))
    throw new UsageError(
      command,
      `Expected a URL such as http://127.0.0.1:4569 for --endpoint but received ${JSON.stringify(endpoint)}`,
    );
  const table = text(values.table) ?? env[STATUS_TABLE_ENV]?.trim() ?? DEV_STATUS_TABLE;
  // DynamoDB's rule for a table name: it answered "1 validation error detected: Value 'ab' at
  // 'tableName' failed to satisfy constraint", exit 1, after the request.
  // Its ARN is taken too (DynamoDB accepts one for TableName).
  if (!/^(arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:\d{12}:table\/)?[A-Za-z0-9_.-]{3,255}$/.test(table))
    throw new UsageError(
      command,
      `Expected a DynamoDB table name (3 to 255 letters, digits, _, - and .) or its ARN for ${values.table === undefined ? STATUS_TABLE_ENV : '--table'} but received ${JSON.stringify(table)}`,
    );
  return await runStatusCommand({
    ...(positionals[0] !== undefined ? { object: positionals[0] } : {}),
    ...(lists[0] !== undefined ? { list: lists[0] } : {}),
    ...(text(values.since) !== undefined ? { since: text(values.since) } : {}),
    limit,
    table,
    ...(endpoint !== undefined ? { endpoint } : {}),
    json: values.json === true,
    stdout: process.stdout,
  });
}

async function reprocessCommand(
  values: Values,
  positionals: string[],
  env: NodeJS.ProcessEnv,
): Promise<number> {
  const command = REPROCESS_COMMAND.command;
  if (positionals.length !== 1)
    throw new UsageError(command, 'give one s3://<bucket>/<prefix>, e.g. s3://imgpipe-source/photos/');
  if (values.force === true && values['only-stale'] === true)
    throw new UsageError(command, 'choose --only-stale or --force, not both');
  const endpoint = text(values.endpoint);
  if (endpoint !== undefined && !/^https?:\/\/[^/?#\s]+\/?$/.test(endpoint))
    throw new UsageError(
      command,
      `Expected a URL such as http://127.0.0.1:4571 for --endpoint but received ${JSON.stringify(endpoint)}`,
    );
  // The numbers are checked before the state machine is looked for: a mistyped one is named, not
  // hidden behind "which state machine?".
  const concurrency =
    values.concurrency !== undefined
      ? integerFlag(command, '--concurrency', text(values.concurrency), 10, 1, 10_000)
      : undefined;
  const batchSize =
    values['batch-size'] !== undefined
      ? integerFlag(command, '--batch-size', text(values['batch-size']), 10, 1, 100)
      : undefined;
  const stateMachine =
    text(values['state-machine']) ??
    (env[STATE_MACHINE_ENV]?.trim() || undefined) ??
    (endpoint !== undefined ? DEV_REPROCESS_STATE_MACHINE : undefined);
  if (stateMachine === undefined)
    throw new UsageError(
      command,
      `which state machine? Give --state-machine <arn> or set ${STATE_MACHINE_ENV} (terraform -chdir=terraform/deployment output -raw reprocess_state_machine_arn), or --endpoint for imgpipe dev`,
    );
  return await runReprocessCommand({
    target: positionals[0]!,
    force: values.force === true,
    ...(concurrency !== undefined ? { concurrency } : {}),
    ...(batchSize !== undefined ? { batchSize } : {}),
    stateMachine,
    ...(endpoint !== undefined ? { endpoint } : {}),
    ...(text(values.name) !== undefined ? { name: text(values.name) } : {}),
    stdout: process.stdout,
    stderr: process.stderr,
  });
}

/**
 * Every error ends here as one line: a usage mistake (exit 2, with the help to see), a bad setting
 * (exit 2), anything else (exit 1). The stack only with --verbose or DEBUG.
 */
function report(error: unknown, debug: boolean): number {
  // One line, whatever file name or key it quotes: their control characters escaped, in the stack
  // too, which repeats the message.
  const stack = debug && error instanceof Error && error.stack ? `${printableStack(error)}\n` : '';
  if (error instanceof UsageError) {
    process.stderr.write(
      `${error.command}: ${printable(error.message)}\nSee '${error.command} --help'.\n${stack}`,
    );
    return 2;
  }
  if (error instanceof CommandFailure) {
    process.stderr.write(`${error.command}: ${printable(error.message)}\n${stack}`);
    return 1;
  }
  if (error instanceof ConfigError) {
    process.stderr.write(`imgpipe: ${printable(error.message)}\n${stack}`);
    return 2;
  }
  process.stderr.write(
    `imgpipe: ${printable(describeError(error))}\n${stack || 'Run again with --verbose (or DEBUG=1) for the stack.\n'}`,
  );
  return 1;
}
