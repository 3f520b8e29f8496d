import type { Provenance } from './provenance.ts';
import type { Architecture, Derived, Prices, Strategy, SweepRow } from './types.ts';

/** Everything a sweep produced: what sweep.json holds and every other output is rendered from. */
export interface SweepDocument {
  readonly schema: 'imgpipe-bench-sweep/1';
  readonly provenance: Provenance;
  readonly settings: {
    readonly target: 'local' | 'aws';
    readonly functionName?: string;
    readonly functionArchitecture?: Architecture;
    readonly memories: readonly number[];
    /** Images (local) or payload labels (AWS). */
    readonly inputs: readonly string[];
    readonly runs: number;
    readonly strategy: Strategy;
    readonly weight?: number;
    readonly architecture: Architecture;
    readonly rps: number;
    readonly timeoutMargin: number;
    readonly headroom: number;
    /** --min-pixels (absent in files written before it existed). */
    readonly minPixels?: number;
    readonly prices: Prices;
    readonly coldStartRate: number;
    readonly maxForeignCpu?: number;
    /** Where the tuning file was written; absent when none was (--from without --tfvars). */
    readonly tfvars?: string;
    /** The limit the function had before the sweep: max_input_pixels when nothing can be fitted. */
    readonly configuredMaxPixels?: number;
    /** limits.maxSecondsPerImage of the runs' configuration (local sweeps; absent in older files). */
    readonly maxSecondsPerImage?: number;
  };
  readonly rows: readonly SweepRow[];
  readonly choice?: Derived;
  /** Why there is no choice. */
  readonly noChoice?: string;
  readonly tfvars?: Readonly<Record<string, number>>;
  readonly warnings: readonly string[];
  /** The warnings that come from the runs themselves (kept when choosing again with --from). */
  readonly runWarnings: readonly string[];
  /** Wall time of the whole sweep (with chosenAgainFrom: of the stored sweep that ran the rows). */
  readonly elapsedSeconds: number;
  /** Set when this document was chosen again (--from) from the rows of a stored sweep. */
  readonly chosenAgainFrom?: string;
}

/** Short label for a row's source, used in every table and the chart's legend. */
export function sourceLabel(row: Pick<SweepRow, 'mode'>): string {
  return row.mode === 'measured' ? 'measured' : row.mode === 'modelled' ? 'MODELLED' : 'measured (AWS)';
}

export const MODELLED_NOTE =
  'MODELLED rows were not measured: this machine could not enforce their CPU share, so their durations and init are computed from the CPU time measured without a quota (bench/README.md, "The model"). Their peak RSS is measured, with the worker count Lambda would use.';
