// Lint: typescript-eslint's recommended rules, plus the type-aware rules that catch a promise
// nobody awaits or handles (the server's async paths: an unhandled rejection there is a crash).
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'miniprogram_dist/**', 'miniprogram/miniprogram_npm/**', 'coverage/**', '.ci/**', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      // Every TypeScript program of the repository (the Node one, the pages and benches with DOM
      // types, the sample mini-program with WeChat's, the type tests).
      parserOptions: {
        project: ['./tsconfig.json', './tsconfig.pages.json', './miniprogram/tsconfig.json', './__tests__/types/tsconfig.json'],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: { require: 'readonly', module: 'writable', process: 'readonly', console: 'readonly', __dirname: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly' },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
)
