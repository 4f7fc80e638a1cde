import { toolDefinition } from '@tanstack/ai';
import { createCodeModeTool } from '@tanstack/ai-code-mode';
import { codecellIsolateDriver } from 'codecell/tanstack';
import { z } from 'zod';

const getWeather = toolDefinition({ name: 'getWeather', description: 'Weather in a city', inputSchema: z.object({ city: z.string() }) })
  .server(async ({ city }) => ({ city, celsius: 21 }));
const codeMode = createCodeModeTool({ driver: codecellIsolateDriver(), tools: [getWeather] });
// What the model would send as execute_typescript's input:
const result = await codeMode.execute({ typescriptCode: 'const w = await external_getWeather({ city: "Oslo" }); return w.celsius;' });
console.log(result);
