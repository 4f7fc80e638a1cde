// ESLint (typescript-eslint, type-checked): the rules a reader cannot keep by eye — promises that
// float or are passed where a callback returns nothing (STYLE 13), switches that miss a case —
// and the size of files as a warning near 400 lines. Prettier keeps the format
// (scripts/check-style.js); the length of a function is left to judgement.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bench/results/**', 'sandbox/**', 'examples/**', '**/*.js', '**/*.mjs'] },
  {
    files: ['src/**/*.ts', 'host/**/*.ts', 'adapters/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    extends: [tseslint.configs.base],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        // node:test runs what test() and describe() return itself.
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite'] },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': [
        'error',
        { considerDefaultExhaustiveForUnions: true, requireDefaultForNonUnion: false },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'max-lines': ['warn', { max: 400 }],
      'max-len': ['error', { code: 120, ignoreTemplateLiterals: true, ignoreUrls: true }],
    },
  },
  // A test's source strings and the README's examples are printed as written.
  { files: ['test/**/*.ts'], rules: { 'max-len': 'off' } },
);
