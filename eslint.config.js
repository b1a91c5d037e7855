import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'test-artifacts/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
        URL: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/cli/*'], message: 'Nothing imports cli/.' }] },
      ],
    },
  },
  {
    files: ['src/policy/**', 'src/protocols/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            'node:net',
            'node:tls',
            'node:fs',
            'node:fs/promises',
            'node:dgram',
            'node:http',
            'node:http2',
            'node:dns',
            'net',
            'tls',
            'fs',
            'dns',
          ],
          patterns: [{ group: ['**/cli/*'], message: 'Nothing imports cli/.' }],
        },
      ],
    },
  },
  {
    files: ['src/cli/**'],
    rules: { 'no-restricted-imports': 'off' },
  },
);
