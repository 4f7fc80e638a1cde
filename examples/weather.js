// Try it: npx codecell run examples/weather.js --tools examples/tools.json
const [weather, rate] = await Promise.all([
  tools.get_weather({ city: 'Oslo' }),
  tools.convert_currency({ from: 'EUR', to: 'NOK', amount: 10 }),
]);
notify(`looked up ${weather.city}`);
text(`Hello! It is ${weather.temperatureC} °C in ${weather.city}.`);
text(`10 EUR is ${rate.amount} NOK.`);
console.log('tools available:', ALL_TOOLS.map((tool) => tool.name).join(', '));
