import { parseArgs } from 'node:util';
import { didYouMean } from '../core/suggest.ts';

/**
 * Commands as data: each option's name, short flag, value and description, the usage line and the
 * examples. The same description parses the command line (node:util parseArgs) and prints
 * `<command> --help`, so the help lists exactly what is accepted. Mistakes become a UsageError:
 * one line that names the problem (and the flag meant, for a typo), and the command's help to see.
 */
export interface OptionSpec {
  readonly name: string;
  readonly short?: string;
  /** Placeholder of a string option's value, e.g. `<dir>`; boolean options have none. */
  readonly value?: string;
  readonly multiple?: boolean;
  readonly description: string;
}

export interface CommandSpec {
  /** How it is run, e.g. `imgpipe process` or `npm run bench -- sweep`. */
  readonly command: string;
  readonly usage: string;
  readonly summary: string;
  /** Paragraphs after the usage line. */
  readonly description?: string;
  readonly options: readonly OptionSpec[];
  readonly positionals?: boolean;
  readonly examples?: readonly string[];
  /** Closing paragraphs (exit status, environment). */
  readonly notes?: string;
}

/** A mistake on the command line: exit status 2, and the help of `command` to see. */
export class UsageError extends Error {
  readonly command: string;

  constructor(command: string, message: string) {
    super(message);
    this.name = 'UsageError';
    this.command = command;
  }
}

/**
 * Something the command needs is not there (imgpipe dev has not run in the data folder): exit
 * status 1, the message as the line, after the command's name (not "Error:", and no stack to ask for:
 * the message says what is missing and how to get it).
 */
export class CommandFailure extends Error {
  readonly command: string;

  constructor(command: string, message: string) {
    super(message);
    this.name = 'CommandFailure';
    this.command = command;
  }
}

/** The error and its causes (a StorageError wraps the SDK's), at most 5. */
export function errorChain(error: unknown): Error[] {
  const chain: Error[] = [];
  for (let cause = error; cause instanceof Error && chain.length < 5; cause = cause.cause) chain.push(cause);
  return chain;
}

/**
 * An AWS call that failed for want of credentials, or at an `--endpoint` nobody answers on (imgpipe
 * dev not running there), as one line (`hint` after it); undefined for any other failure. The SDK's
 * error may be wrapped (a StorageError's cause).
 */
export function awsCallFailure(
  command: string,
  error: unknown,
  endpoint: string | undefined,
  hint = '',
): CommandFailure | undefined {
  const chain = errorChain(error);
  if (chain.some((cause) => cause.name === 'CredentialsProviderError'))
    return new CommandFailure(
      command,
      'no AWS credentials found: set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or run aws sso login; for imgpipe dev give --endpoint',
    );
  const code = chain
    .map((cause) => (cause as NodeJS.ErrnoException).code)
    .find((code) => code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'ECONNRESET');
  if (endpoint !== undefined && code !== undefined)
    return new CommandFailure(
      command,
      `cannot reach --endpoint ${endpoint} (${code}): is imgpipe dev running there?${hint}`,
    );
  return undefined;
}

export const HELP_OPTION: OptionSpec = { name: 'help', short: 'h', description: 'Show this help.' };

export interface ParsedArgs {
  readonly values: Record<string, string | boolean | string[] | undefined>;
  readonly positionals: string[];
}

export function parseCommandLine(spec: CommandSpec, argv: readonly string[]): ParsedArgs {
  const options = Object.fromEntries(
    spec.options.map((o) => [
      o.name,
      {
        type: o.value === undefined ? ('boolean' as const) : ('string' as const),
        ...(o.short ? { short: o.short } : {}),
        ...(o.multiple ? { multiple: true } : {}),
      },
    ]),
  );
  // Non-strict with tokens, so every mistake can be described in our words (parseArgs' own
  // messages quote oddly and suggest nothing).
  const { values, positionals, tokens } = parseArgs({
    args: [...argv],
    options,
    allowPositionals: true,
    strict: false,
    tokens: true,
  });
  const byName = new Map(spec.options.map((o) => [o.name, o]));
  const flags = spec.options.flatMap((o) => [`--${o.name}`, ...(o.short ? [`-${o.short}`] : [])]);
  const given = new Map<string, string>();
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    const option = byName.get(token.name);
    if (!option) {
      // A file whose name begins with a dash (-dash.jpg) reads as flags (-d -a -s ...): say how to
      // give it, not which flag -d might have been.
      const raw = argv[token.index] ?? token.rawName;
      const file = spec.positionals && /[./]/.test(raw) && !/^--[\w-]+=/.test(raw);
      throw new UsageError(
        spec.command,
        file
          ? `unknown option ${raw}: a file whose name begins with - is given as ./${raw.replace(/^\.\//, '')} or after --`
          : `unknown option ${token.rawName}${didYouMean(token.rawName, flags)}`,
      );
    }
    // The next argument is taken for a flag, not a value (-o -j 4), unless it is a negative
    // number (-j -3), which the flag's own check then refuses naming it.
    const missing =
      token.value === undefined ||
      (!token.inlineValue && token.value.startsWith('-') && token.value !== '-' && !/^-\d/.test(token.value));
    if (option.value !== undefined && missing) {
      // A value that begins with - and is no flag (--name -x.jpg, a key): say how to give it. It
      // was "--name needs a value", which the user had given.
      const next = token.value;
      const dashed = next !== undefined && /[./]/.test(next) && !flags.includes(next.replace(/=.*$/s, ''));
      throw new UsageError(
        spec.command,
        `--${option.name} needs a value: --${option.name} ${option.value}${dashed ? `; a value that begins with - is given as --${option.name}=${next}` : ''}`,
      );
    }
    if (option.value !== undefined && !option.multiple && token.value !== undefined) {
      // One value: a second one is a mistake (which did they mean?), not the last one silently.
      const first = given.get(option.name);
      if (first !== undefined) {
        throw new UsageError(
          spec.command,
          `--${option.name} is given twice, as ${JSON.stringify(first)} and ${JSON.stringify(token.value)}: give it once`,
        );
      }
      given.set(option.name, token.value);
    }
    if (option.value === undefined && token.value !== undefined) {
      throw new UsageError(
        spec.command,
        `--${option.name} takes no value (given ${token.rawName}=${token.value})`,
      );
    }
  }
  if (!spec.positionals && positionals.length > 0) {
    throw new UsageError(spec.command, `unexpected argument ${JSON.stringify(positionals[0])}`);
  }
  return { values: values as ParsedArgs['values'], positionals };
}

/** The text of `<command> --help`. */
export function renderHelp(spec: CommandSpec): string {
  const flag = (o: OptionSpec) =>
    `${o.short ? `-${o.short}, ` : '    '}--${o.name}${o.value ? ` ${o.value}` : ''}`;
  const width = Math.max(...spec.options.map((o) => flag(o).length));
  const wrap = (text: string, indent: number) => wrapText(text, 100 - indent).join(`\n${' '.repeat(indent)}`);
  const lines = [`Usage: ${spec.usage}`, '', ...wrapText(spec.summary, 100)];
  if (spec.description) lines.push('', spec.description);
  lines.push('', 'Options:');
  for (const option of spec.options) {
    lines.push(`  ${flag(option).padEnd(width)}  ${wrap(option.description, width + 4)}`);
  }
  if (spec.examples?.length) lines.push('', 'Examples:', ...spec.examples.map((e) => `  ${e}`));
  if (spec.notes) lines.push('', spec.notes);
  return `${lines.join('\n')}\n`;
}

function wrapText(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

/** An integer flag within a range; the error names the flag. */
export function integerFlag(
  command: string,
  flag: string,
  text: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (text === undefined) return fallback;
  // Digits only: ' 2' is refused here as every other number flag refuses it.
  const value = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(
      command,
      `Expected integer between ${min} and ${max} for ${flag} but received ${JSON.stringify(text)} of type string`,
    );
  }
  return value;
}
