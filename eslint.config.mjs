// ESLint with typescript-eslint's type-checked rules (issue 21): the habit that keeps the code free
// of unhandled promises, `any` and needless casts. Run `npm run lint`; .ci/run runs it before the
// tests. Why eslint + typescript-eslint and not Biome: docs/README.md, "Development".
import js from '@eslint/js';
import comments from '@eslint-community/eslint-plugin-eslint-comments/configs';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: ['dist/**', 'node_modules/**', 'test/artifacts/**', 'coverage/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  comments.recommended,
  {
    languageOptions: {
      globals: { ...globals.node },
      parserOptions: {
        // One program for every TypeScript file, the generator scripts included (tsconfig.eslint.json).
        project: './tsconfig.eslint.json',
        tsconfigRootDir: import.meta.dirname,
      },
    },
    linterOptions: {
      reportUnusedDisableDirectives: 'error',
    },
    rules: {
      // Stated although recommendedTypeChecked has them: the reason this linter exists.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      // An eslint-disable comment names its rule and says why after `--`.
      '@eslint-community/eslint-comments/require-description': ['error', { ignore: [] }],
      '@eslint-community/eslint-comments/no-unlimited-disable': 'error',
      // Off: an `async` function without `await` still turns a throw into a rejection, which is what
      // its Promise-returning interface (fastify plugins and hooks, fakes of async ports) promises.
      '@typescript-eslint/require-await': 'off',
      // A leading underscore marks a parameter or a destructured field that is left out on purpose.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', ignoreRestSiblings: true }],
    },
  },
  {
    // Off in tests only: they read the CLI's and the API's JSON output through JSON.parse (`any`)
    // and assert its fields; typing every parsed document would rewrite ~50 test files without
    // making an assertion stronger. src/ keeps all of them.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    // Plain JavaScript (bin/, scripts/, a few .mjs helpers): no types to check against.
    files: ['**/*.{js,mjs,cjs}'],
    ...tseslint.configs.disableTypeChecked,
  },
);
