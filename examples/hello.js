// Try it: npx codecell run examples/hello.js
const greet = (name) => `Hello, ${name}!`;
text(greet('codecell'));
notify('about to wait a moment');
await new Promise((resolve) => setTimeout(resolve, 100));
store('greeted', true);
console.log('facts:', { primes: [2, 3, 5, 7, 11].filter((n) => n > 4), tools: ALL_TOOLS.length });
text(`stored a value: ${load('greeted')}`);
