// A node:test reporter for `npm run mutate`: the first failing test ends the run with status 1
// (Node's test runner has no bail), so a killed mutant costs a second, not the whole suite.
export default async function* bail(source) {
  for await (const event of source) {
    if (event.type === 'test:fail' && event.data.details?.type !== 'suite') {
      process.stdout.write(`killed by: ${event.data.name}\n`);
      process.exit(1);
    }
  }
  yield '';
}
