// ESLint flat config: typescript-eslint with type-aware rules on sources.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/coverage/**', '**/node_modules/**', '**/.turbo/**', 'bench-results/**'] },
  js.configs.recommended,
  {
    files: ['packages/*/src/**/*.ts', 'apps/*/src/**/*.ts'],
    extends: [...tseslint.configs.strictTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Register models do arithmetic on numbers in template strings for messages.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      // Bit manipulation is the point of this project.
      'no-bitwise': 'off',
      '@typescript-eslint/no-unnecessary-condition': ['error', { allowConstantLoopConditions: true }],
      '@typescript-eslint/no-extraneous-class': 'off',
      '@typescript-eslint/prefer-literal-enum-member': 'off',
      // With noUncheckedIndexedAccess, typed-array reads on hot paths are `a[i]!`.
      '@typescript-eslint/no-non-null-assertion': 'off',
      // `return this.other(...)` from a void method reads well in register dispatch.
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreVoidReturningFunctions: true }],
      // Error subclasses widen a protected base constructor to public.
      '@typescript-eslint/no-useless-constructor': 'off',
      // `import { type X }` keeps an empty import, which makes the bundler emit empty shared chunks: `import type { X }`.
      '@typescript-eslint/no-import-type-side-effects': 'error',
      // Interface methods implemented without using every argument.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['**/*.test.ts', '**/*.bench.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-confusing-void-expression': 'off',
      '@typescript-eslint/no-meaningless-void-operator': 'off',
      '@typescript-eslint/no-empty-function': 'off',
    },
  },
  {
    files: ['**/*.ts'],
    ignores: ['packages/*/src/**/*.ts', 'apps/*/src/**/*.ts'],
    extends: [...tseslint.configs.recommended],
  },
  {
    // Repository scripts and configs run on Node.
    files: ['scripts/**/*.mjs', '*.js', '*.ts', 'packages/*/*.ts', 'apps/*/*.ts'],
    languageOptions: {
      globals: { console: 'readonly', process: 'readonly', URL: 'readonly' },
    },
  },
);
