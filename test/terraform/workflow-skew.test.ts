import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FAILED_ERROR, TRANSIENT_ERROR } from '../../src/handlers/tasks.ts';
import {
  allStates,
  definitions,
  FIXTURE,
  type State,
  type TaskInterface,
  taskOf,
  unknownTo,
  uses,
} from './task-interface.ts';

/**
 * Release skew. A release applies the state machine definitions (Terraform) before CodeDeploy moves
 * the `live` alias, and the task functions' aliases move only once it has (deploy.yml): for the
 * whole release, and for good after a rollback, the new definitions run the previous release's
 * tasks. So a definition may pass a task only the input fields, read only the output fields and
 * act only on the error names that the released tasks know: test/fixtures/workflow-task-interface.json
 * records them (terraform/README.md, "Changing what a task takes or returns"). A task's new field
 * or error ships in one release, the fixture follows once that release is in every environment,
 * and only then may a definition use it.
 */
const released = JSON.parse(readFileSync(FIXTURE, 'utf8')).tasks as Record<string, TaskInterface>;

describe('the state machine definitions and the tasks of the previous release', () => {
  it.each(definitions)('%s passes, reads and names only what the released tasks know', (_, definition) => {
    const used = uses(definition);
    expect(used.length).toBeGreaterThan(5);
    expect(unknownTo(released, used)).toEqual([]);
  });

  it('records every task the definitions invoke, and errors the tasks can throw', () => {
    const invoked = new Set(
      definitions.flatMap(([, d]) => allStates(d.States).map(([, s]) => taskOf(s))).filter(Boolean),
    );
    expect(Object.keys(released).sort()).toEqual([...invoked].sort());
    for (const [task, spec] of Object.entries(released))
      for (const error of spec.errors) expect([TRANSIENT_ERROR, FAILED_ERROR], task).toContain(error);
  });

  // The check itself, on definitions changed as a release could change them.
  const upload = definitions.find(([file]) => file === 'upload.asl.json')![1];
  const changed = (change: (definition: State) => void) => {
    const copy = structuredClone(upload);
    change(copy);
    return unknownTo(released, uses(copy));
  };

  it('fails a definition that passes a task an input field it does not know', () => {
    expect(
      changed((d) => {
        d.States.Process.Parameters['quality.$'] = '$.inspection.quality';
      }),
    ).toContain('Process: input quality is unknown to the released process task');
  });

  it('fails a definition that reads an output field its tasks do not return', () => {
    expect(
      changed((d) => {
        d.States.Inspected.Choices[0].Variable = '$.inspection.verdict.state';
      }),
    ).toContain('$.inspection: output verdict.state is unknown to the released inspect task');
  });

  // A task whose result is the whole state (no ResultPath): Plan's and Summarize's in reprocess.
  const reprocess = definitions.find(([file]) => file === 'reprocess.asl.json')![1];
  const changedReprocess = (change: (definition: State) => void) => {
    const copy = structuredClone(reprocess);
    change(copy);
    return unknownTo(released, uses(copy));
  };

  it('fails a definition that reads a field of a task result that is the whole state', () => {
    expect(
      changedReprocess((d) => {
        d.States.ByPrefix.ItemSelector['priority.$'] = '$.priority';
      }),
    ).toContain('ByPrefix: output priority is unknown to the released plan task');
    // A Fail state's cause, read from the summary Summarize returned.
    expect(
      changedReprocess((d) => {
        d.States.Summarized.Choices = [{ Variable: '$.mapFailure', IsPresent: true, Next: 'MapFailed' }];
        d.States.MapFailed.ErrorPath = '$.errorName';
      }),
    ).toContain('MapFailed: output errorName is unknown to the released summarize task');
  });

  it('lets a definition read a field only where a Choice found it present, and not one a later state wrote', () => {
    // The previous release's Summarize returns no cause: MapFailed reads it only on the branch
    // where it is present (MapFailedWithoutCause otherwise).
    expect(unknownTo(released, uses(reprocess))).toEqual([]);
    expect(
      changedReprocess((d) => {
        d.States.Summarized.Choices = [{ Variable: '$.mapFailure', IsPresent: true, Next: 'MapFailed' }];
      }),
    ).toContain('MapFailed: output cause is unknown to the released summarize task');
    // $.results is the map's (ResultPath), not Plan's.
    expect(
      changedReprocess((d) => {
        d.States.ByPrefix.ResultPath = '$.mapResults';
      }),
    ).toContain('Summarize: output results is unknown to the released plan task');
  });

  it('fails a definition that acts on an error name its task does not throw', () => {
    expect(
      changed((d) => {
        d.States.Scan.Retry[0].ErrorEquals.push('Imgpipe.Busy');
      }),
    ).toContain('Scan: error Imgpipe.Busy is unknown to the released scan task');
  });
});
