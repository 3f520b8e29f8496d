/**
 * `npm run bench` runs the benchmark suites (codec micro-benchmarks, the pipeline over a corpus,
 * the J1 reference job against sharp and the naive jSquash recipe) and prints the three J1 ratios.
 * `npm run bench -- sweep ...` runs the memory sweep (bench/sweep/); `npm run bench -- memory`
 * measures what each kind of image costs in memory per pixel (bench/memory/).
 */
const [command, ...rest] = process.argv.slice(2);
if (command === 'sweep') {
  const { main } = await import('./sweep/main.ts');
  process.exitCode = await main(rest);
} else if (command === 'memory') {
  const { main } = await import('./memory/main.ts');
  process.exitCode = await main(rest);
} else {
  const { main } = await import('./suites/main.ts');
  process.exitCode = await main(command === undefined ? [] : [command, ...rest]);
}
