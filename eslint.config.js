// Lint rules: typescript-eslint's type-aware set, plus the habits of STYLE.md
// (no floating promises, named exports only, and the layout: the operator, the dispatcher
// and the kubectl plugin (cli/) build on core/ and none imports another; core/ imports none).
import tseslint from 'typescript-eslint';

/** A no-restricted-imports rule that keeps a folder out of the given top-level folders. */
function outOf(...folders) {
  return [
    'error',
    {
      patterns: folders.map((folder) => ({
        regex: `^(\\.\\./)+${folder}/`,
        message: `Import what is shared from core/, not from ${folder}/ (see STYLE.md, "Layout shows the architecture").`,
      })),
    },
  ];
}

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'crds/**', 'charts/**', 'eslint.config.js'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            {
              from: 'package',
              package: 'node:test',
              name: ['describe', 'it', 'test', 'suite', 'before', 'after'],
            },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-exports': [
        'error',
        { restrictDefaultExports: { direct: true, named: true, defaultFrom: true } },
      ],
    },
  },
  // Static imports only: `npm run imports` (scripts/imports.ts) also checks dynamic ones and
  // sees the entry point hookline.ts, which starts either half, beside them.
  { files: ['core/**/*.ts'], rules: { 'no-restricted-imports': outOf('operator', 'dispatcher', 'cli') } },
  { files: ['operator/**/*.ts'], rules: { 'no-restricted-imports': outOf('dispatcher', 'cli') } },
  { files: ['dispatcher/**/*.ts'], rules: { 'no-restricted-imports': outOf('operator', 'cli') } },
  { files: ['cli/**/*.ts'], rules: { 'no-restricted-imports': outOf('operator', 'dispatcher') } },
);
