import { type CommandSpec, parseCommandLine } from '../../src/cli/args.ts';
import { invalidSetting } from '../../src/core/errors.ts';
import { DEFAULT_PRICES } from './cost.ts';
import { DEFAULT_BALANCED_WEIGHT } from './strategy.ts';
import { ARCHITECTURES, type Architecture, type Prices, STRATEGIES, type Strategy } from './types.ts';

/** Lambda Power Tuning's usual list, plus 1769 (one vCPU) and 3538 (two). */
export const DEFAULT_MEMORIES = [512, 1024, 1536, 1769, 2048, 3008, 3538, 4096, 6144, 10240] as const;
/** `--quick`: one size per regime (fraction of a vCPU, one, two, six), one warm run. */
export const QUICK_MEMORIES = [1024, 1769, 3538, 10240] as const;
export const DEFAULT_CORPUS = ['fixtures/photos', 'fixtures/bench'] as const;
export const DEFAULT_OUT = 'bench/results/sweep';
export const DEFAULT_TFVARS = 'terraform/envs/dev/tuning.tfvars.json';

/** The smallest input limit a chosen size must allow by default: a 48 MP sensor's 24 MP photo. */
export const DEFAULT_MIN_PIXELS = 24_000_000;

export interface SweepOptions {
  readonly memories: readonly number[];
  readonly corpus: readonly string[];
  readonly runs: number;
  readonly strategy: Strategy;
  readonly weight: number;
  readonly architecture: Architecture;
  readonly rps: number;
  readonly timeoutMargin: number;
  readonly headroom: number;
  /** Sizes whose derived max_input_pixels is below this are not chosen. */
  readonly minPixels: number;
  readonly prices: Prices;
  readonly coldStartRate: number;
  readonly out: string;
  /** Where the Terraform tuning file goes; with --from, only when --tfvars asks for one. */
  readonly tfvars?: string;
  readonly config?: string;
  readonly maxForeignCpu: number;
  readonly waitQuietSeconds: number;
  readonly quick: boolean;
  /** Recompute the choice and outputs from an earlier sweep.json instead of running. */
  readonly from?: string;
  readonly aws?: {
    readonly functionName: string;
    readonly region?: string;
    readonly payloads: readonly string[];
    readonly eventObjects: readonly { readonly bucket: string; readonly key: string }[];
    readonly deleteManifest: boolean;
  };
  readonly help: boolean;
}

export const USAGE = `npm run bench -- sweep [options]

Runs the pipeline over a corpus at each Lambda memory size (a fresh process per image, with the
CPU share Lambda gives the size), prices 1,000 images on arm64 and x86_64, picks a size and derives
timeout, provisioned concurrency and max input pixels. Writes sweep.json, sweep.md and sweep.svg to
--out and the Terraform tuning file to --tfvars.

Sweep:
  --memory <MB,...>          sizes (default ${DEFAULT_MEMORIES.join(',')})
  --corpus <dir|file>        images; repeatable or comma-separated (default ${DEFAULT_CORPUS.join(' and ')})
  --runs <n>                 warm runs per image after the cold one (default 2)
  --config <file>            pipeline document for the runs (default: IMGPIPE_CONFIG(_FILE) or built-in)
  --quick                    sizes ${QUICK_MEMORIES.join(',')} and 1 warm run, unless --memory/--runs say otherwise
  --max-foreign-cpu <0..1>   load other processes may add, as a share of the machine, beyond what a
                             measured size's quota leaves free; above it, wait before the image,
                             run it once more if it was contended, else flag it (default 0.1)
  --wait-quiet <seconds>     longest wait for quiet before an image (default 120; 0 never waits)
Choice:
  --strategy cost|speed|balanced   as AWS Lambda Power Tuning (default cost)
  --weight <0..1>            balanced: 1 = cost only, 0 = speed only (default ${DEFAULT_BALANCED_WEIGHT})
  --architecture arm64|x86_64   whose price decides (default arm64, as the Terraform default)
  --headroom <0..0.9>        memory kept free: peak RSS above (1 - headroom) x memory is out of memory (default 0.15)
  --min-pixels <n>           only choose sizes whose derived max_input_pixels is at least n (default 24000000,
                             a 48 MP sensor's default 24 MP photo; 1000000 to not constrain)
  --timeout-margin <x>       timeout = slowest invocation x margin (default 3)
  --rps <n>                  expected arrivals per second for provisioned concurrency (default 0: none);
                             above 0, sizes are priced with it, not on-demand
Prices (us-east-1 list prices by default):
  --price-arm <USD/GB-s>     default ${DEFAULT_PRICES.arm64}
  --price-x86 <USD/GB-s>     default ${DEFAULT_PRICES.x86_64}
  --price-request <USD/1M>   default ${DEFAULT_PRICES.requestPerMillion}
  --price-provisioned-arm <USD/GB-s>   with --rps: the provisioned concurrency configured, used
  --price-provisioned-x86 <USD/GB-s>     or not (defaults ${DEFAULT_PRICES.provisioned.arm64}, ${DEFAULT_PRICES.provisioned.x86_64})
  --price-provisioned-duration-arm <USD/GB-s>   with --rps: duration of an invocation served by it
  --price-provisioned-duration-x86 <USD/GB-s>     (defaults ${DEFAULT_PRICES.provisionedDuration.arm64}, ${DEFAULT_PRICES.provisionedDuration.x86_64})
  --cold-start-rate <0..1>   share of invocations that are cold (init billed), without --rps (default 0.01)
Outputs:
  --out <dir>                default ${DEFAULT_OUT}
  --tfvars <path>            default ${DEFAULT_TFVARS}; with --from, written only when given
  --from <sweep.json>        no runs: choose again from an earlier sweep's rows with the choice,
                             price and output flags given now (e.g. docs/benchmarks/sweep.json)
Real AWS (instead of local runs):
  --function <name|ARN>      sweep the deployed function (restored afterwards)
  --payload <file>           invocation payload (JSON); repeatable
  --event-object s3://b/key  invoke with the S3 notification for that object; repeatable
  --delete-manifest          delete each object's manifest before every invocation, so the function
                             processes it again instead of skipping it as a duplicate
  --region <region>          default: from the ARN or the AWS SDK's configuration
`;

/**
 * A decimal number, as written in the help (0.5, 1e-6, .25): Number() also reads hexadecimal,
 * octal and binary, so `--rps 0x10` ran a sweep at 16 requests per second and `--weight 0b1` was 1.
 */
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$/i;

function decimal(text: string): number {
  return DECIMAL.test(text.trim()) ? Number(text) : Number.NaN;
}

function number(flag: string, text: string | undefined, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback;
  const value = decimal(text);
  if (!Number.isFinite(value) || value < min || value > max) {
    throw invalidSetting(flag, `number between ${min} and ${max}`, text);
  }
  return value;
}

/**
 * A price per GB-second: above 0 and at most $1. Said in words: number()'s bounds would print the
 * smallest double, "between 5e-324 and 1".
 */
function price(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = decimal(text);
  if (!Number.isFinite(value) || value <= 0 || value > 1) {
    throw invalidSetting(flag, 'price in USD per GB-second, above 0 and at most 1 (e.g. 0.0000133334)', text);
  }
  return value;
}

function integer(flag: string, text: string | undefined, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback;
  const value = /^\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw invalidSetting(flag, `integer between ${min} and ${max}`, text);
  }
  return value;
}

function oneOf<const T extends string>(
  flag: string,
  text: string | undefined,
  allowed: readonly T[],
  fallback: T,
): T {
  if (text === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(text))
    throw invalidSetting(flag, `one of ${allowed.join(', ')}`, text);
  return text as T;
}

function list(values: readonly string[] | undefined): string[] {
  return (values ?? [])
    .flatMap((value) => value.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '');
}

export function parseMemories(text: string): number[] {
  const parts = text.split(',').map((part) => part.trim());
  const memories = parts.map((part) => {
    const value = /^\d+$/.test(part) ? Number(part) : Number.NaN;
    // 512: below it the function's encoder baseline (350 MiB) leaves no room for an image, its init
    // stops, and Terraform refuses the size.
    if (!Number.isSafeInteger(value) || value < 512 || value > 10240) {
      throw invalidSetting(
        '--memory',
        'comma-separated integers between 512 and 10240 (MB)',
        text,
        `${JSON.stringify(part)} is not`,
      );
    }
    return value;
  });
  return [...new Set(memories)].sort((a, b) => a - b);
}

/** A function name, partial ARN or ARN with a `:version` or `:alias` after the name. */
const QUALIFIED_FUNCTION =
  /^(?:arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:function:|\d{12}:function:)?[a-zA-Z0-9_-]+:[a-zA-Z0-9$_-]+$/;

export function parseS3Url(text: string): { bucket: string; key: string } {
  const match = /^s3:\/\/([^/]+)\/(.+)$/.exec(text);
  if (!match) throw invalidSetting('--event-object', 'an S3 URL like s3://bucket/key', text);
  return { bucket: match[1]!, key: match[2]! };
}

export function parseSweepOptions(argv: readonly string[]): SweepOptions {
  // A mistyped flag is a UsageError naming it (and the flag meant): main prints it in one line.
  const { values } = parse(argv);
  const quick = values.quick ?? false;
  const strategy = oneOf('--strategy', values.strategy, STRATEGIES, 'cost');
  if (values.weight !== undefined && strategy !== 'balanced') {
    throw invalidSetting('--weight', 'no --weight unless --strategy balanced', values.weight);
  }
  // Keys and paths may contain commas: these two are repeatable only.
  const eventObjects = (values['event-object'] ?? []).map(parseS3Url);
  const payloads = [...(values.payload ?? [])];
  const functionName = values.function?.trim();
  if (functionName === '') throw invalidSetting('--function', 'a function name or ARN', values.function);
  // The sweep updates the function's $LATEST and publishes and invokes versions of its own (Invoke
  // with a Qualifier): a version or alias in the name (imgpipe-dev:live) is not what it measures,
  // and Lambda refuses a name whose qualifier differs from the Qualifier ("The derived qualifier
  // from the function name does not match the specified qualifier"), so every size failed.
  if (functionName !== undefined && QUALIFIED_FUNCTION.test(functionName)) {
    throw invalidSetting(
      '--function',
      'a function name or ARN without a version or alias (the sweep publishes and invokes versions of its own)',
      values.function,
    );
  }
  if (
    functionName === undefined &&
    (payloads.length > 0 || eventObjects.length > 0 || values['delete-manifest'])
  ) {
    throw invalidSetting(
      '--function',
      'a function name or ARN with --payload, --event-object or --delete-manifest',
      undefined,
    );
  }
  if (functionName !== undefined && payloads.length === 0 && eventObjects.length === 0) {
    throw invalidSetting(
      '--payload',
      'at least one --payload <file> or --event-object s3://bucket/key with --function',
      undefined,
    );
  }
  if (values.from !== undefined) {
    for (const flag of ['memory', 'corpus', 'runs', 'function', 'quick', 'config'] as const) {
      if (values[flag] !== undefined) {
        throw invalidSetting(
          `--${flag}`,
          `no --${flag} with --from (the rows come from the file)`,
          values[flag],
        );
      }
    }
  }
  if (functionName !== undefined && values.corpus !== undefined) {
    throw invalidSetting(
      '--corpus',
      'no --corpus with --function (the inputs are --payload and --event-object)',
      values.corpus.join(','),
    );
  }
  // Flags of one mode given in another were ignored without a word: --config with --function swept
  // the deployed function's own document while the user believed theirs was measured.
  if (functionName !== undefined) {
    for (const [flag, why] of [
      ['config', 'the deployed function runs its own pipeline document'],
      ['max-foreign-cpu', 'this machine runs nothing'],
      ['wait-quiet', 'this machine runs nothing'],
    ] as const) {
      if (values[flag] !== undefined)
        throw invalidSetting(`--${flag}`, `no --${flag} with --function (${why})`, values[flag]);
    }
  } else if (values.region !== undefined) {
    throw invalidSetting(
      '--region',
      'no --region without --function (nothing is called in AWS)',
      values.region,
    );
  }
  // An empty value (an unset variable in a script) was taken: --corpus '' swept no input and
  // ended with "no input ran", --out '' wrote to the working directory, and --tfvars '' failed
  // after the whole sweep with "ENOENT: no such file or directory, open ''".
  if (values.corpus !== undefined && list(values.corpus).length === 0) {
    throw invalidSetting('--corpus', 'a folder or image file', values.corpus.join(','));
  }
  for (const flag of ['out', 'tfvars'] as const) {
    if (values[flag] !== undefined && values[flag].trim() === '') {
      throw invalidSetting(`--${flag}`, flag === 'out' ? 'a folder' : 'a file path', values[flag]);
    }
  }
  if (values.from !== undefined && values['wait-quiet'] !== undefined) {
    throw invalidSetting('--wait-quiet', 'no --wait-quiet with --from (nothing runs)', values['wait-quiet']);
  }
  return {
    memories:
      values.memory !== undefined
        ? parseMemories(values.memory)
        : [...(quick ? QUICK_MEMORIES : DEFAULT_MEMORIES)],
    corpus: values.corpus !== undefined ? list(values.corpus) : [...DEFAULT_CORPUS],
    runs: integer('--runs', values.runs, quick ? 1 : 2, 1, 100),
    strategy,
    weight: number('--weight', values.weight, DEFAULT_BALANCED_WEIGHT, 0, 1),
    architecture: oneOf('--architecture', values.architecture, ARCHITECTURES, 'arm64'),
    rps: number('--rps', values.rps, 0, 0, 1_000_000),
    timeoutMargin: number('--timeout-margin', values['timeout-margin'], 3, 1, 100),
    headroom: number('--headroom', values.headroom, 0.15, 0, 0.9),
    minPixels: integer('--min-pixels', values['min-pixels'], DEFAULT_MIN_PIXELS, 1_000_000, 100_000_000),
    prices: {
      arm64: price('--price-arm', values['price-arm'], DEFAULT_PRICES.arm64),
      x86_64: price('--price-x86', values['price-x86'], DEFAULT_PRICES.x86_64),
      requestPerMillion: number(
        '--price-request',
        values['price-request'],
        DEFAULT_PRICES.requestPerMillion,
        0,
        1000,
      ),
      provisioned: {
        arm64: price(
          '--price-provisioned-arm',
          values['price-provisioned-arm'],
          DEFAULT_PRICES.provisioned.arm64,
        ),
        x86_64: price(
          '--price-provisioned-x86',
          values['price-provisioned-x86'],
          DEFAULT_PRICES.provisioned.x86_64,
        ),
      },
      provisionedDuration: {
        arm64: price(
          '--price-provisioned-duration-arm',
          values['price-provisioned-duration-arm'],
          DEFAULT_PRICES.provisionedDuration.arm64,
        ),
        x86_64: price(
          '--price-provisioned-duration-x86',
          values['price-provisioned-duration-x86'],
          DEFAULT_PRICES.provisionedDuration.x86_64,
        ),
      },
    },
    coldStartRate: number('--cold-start-rate', values['cold-start-rate'], 0.01, 0, 1),
    out: values.out ?? DEFAULT_OUT,
    // Choosing again from a stored sweep must not overwrite the committed tuning file unasked.
    ...(values.tfvars !== undefined
      ? { tfvars: values.tfvars }
      : values.from === undefined
        ? { tfvars: DEFAULT_TFVARS }
        : {}),
    ...(values.config !== undefined ? { config: values.config } : {}),
    maxForeignCpu: number('--max-foreign-cpu', values['max-foreign-cpu'], 0.1, 0, 1),
    waitQuietSeconds: number('--wait-quiet', values['wait-quiet'], 120, 0, 86_400),
    quick,
    ...(values.from !== undefined ? { from: values.from } : {}),
    ...(functionName !== undefined
      ? {
          aws: {
            functionName,
            ...(values.region !== undefined ? { region: values.region } : {}),
            payloads,
            eventObjects,
            deleteManifest: values['delete-manifest'] ?? false,
          },
        }
      : {}),
    help: values.help ?? false,
  };
}

/** The flags (the help is USAGE above); parsing shares the CLI's parser and its messages. */
export const SWEEP_COMMAND: CommandSpec = {
  command: 'npm run bench -- sweep',
  usage: 'npm run bench -- sweep [options]',
  summary: 'The memory sweep.',
  options: [
    ...[
      'memory',
      'runs',
      'strategy',
      'weight',
      'architecture',
      'rps',
      'timeout-margin',
      'headroom',
      'price-x86',
      'price-arm',
      'price-request',
      'price-provisioned-arm',
      'price-provisioned-x86',
      'price-provisioned-duration-arm',
      'price-provisioned-duration-x86',
      'cold-start-rate',
      'min-pixels',
      'out',
      'tfvars',
      'config',
      'max-foreign-cpu',
      'wait-quiet',
      'from',
      'function',
      'region',
    ].map((name) => ({ name, value: '<value>', description: '' })),
    ...['corpus', 'payload', 'event-object'].map((name) => ({
      name,
      value: '<value>',
      multiple: true,
      description: '',
    })),
    ...['quick', 'delete-manifest'].map((name) => ({ name, description: '' })),
    { name: 'help', short: 'h', description: '' },
  ],
};

type Values = {
  [K in
    | 'memory'
    | 'runs'
    | 'strategy'
    | 'weight'
    | 'architecture'
    | 'rps'
    | 'timeout-margin'
    | 'headroom'
    | 'price-x86'
    | 'price-arm'
    | 'price-request'
    | 'price-provisioned-arm'
    | 'price-provisioned-x86'
    | 'price-provisioned-duration-arm'
    | 'price-provisioned-duration-x86'
    | 'cold-start-rate'
    | 'min-pixels'
    | 'out'
    | 'tfvars'
    | 'config'
    | 'max-foreign-cpu'
    | 'wait-quiet'
    | 'from'
    | 'function'
    | 'region']?: string;
} & {
  corpus?: string[];
  payload?: string[];
  'event-object'?: string[];
  quick?: boolean;
  'delete-manifest'?: boolean;
  help?: boolean;
};

function parse(argv: readonly string[]): { values: Values } {
  const { values, positionals } = parseCommandLine({ ...SWEEP_COMMAND, positionals: false }, argv);
  void positionals;
  return { values: values as Values };
}
