#!/usr/bin/env node
// The CLI runs the TypeScript sources directly (Node >= 22.18 strips types natively). The repository
// brings Node 24 as a dev dependency; `npm start`, `npm exec imgpipe` and `npx imgpipe` use it.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    `imgpipe needs Node.js 24 (found ${process.version}). Run it through npm (npm start, npx imgpipe), which uses the Node 24 from node_modules/.bin.\n`,
  );
  process.exit(2);
}
// Output piped into a command that stops reading early (| head) is not an error.
process.stdout.on('error', (error) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
