/**
 * The local runs of the workflow's state machines (aws-local-stepfunctions, every Lambda task bound
 * to our real entry point) live in src/cli/local-stepfunctions.ts, which `imgpipe dev --workflow`
 * shares with the tests.
 */
export { type Binding, bind, type Run, runLocally } from '../../src/cli/local-stepfunctions.ts';
