// Lint rules: typescript-eslint's recommended set plus the house rules that matter at runtime
// (no console in the service, no floating promises would need type info — tsc covers types).
import js from '@eslint/js'
import tseslint from 'typescript-eslint'
import globals from 'globals'

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.tap/**', 'src/web/dist/**', 'packages/*/dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      'no-console': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }]
    }
  },
  {
    files: ['test/**', 'ops/**', 'src/web/**', 'src/cli/**'],
    rules: { 'no-console': 'off' }
  },
  {
    files: ['src/web/**', 'src/client/**'],
    languageOptions: { globals: { ...globals.browser } }
  }
)
