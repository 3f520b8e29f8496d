/**
 * The Lambda image runs Node 24; the tests must too. `npm test` runs under the Node 24 that the
 * repository brings (node_modules/.bin/node comes first on npm's PATH); anything else is a mistake.
 */
export default function checkNodeVersion(): void {
  const major = Number(process.versions.node.split('.')[0]);
  if (major !== 24) {
    throw new Error(
      `Tests must run under Node 24 like the Lambda runtime, but this is ${process.version}. Use \`npm test\`.`,
    );
  }
}
