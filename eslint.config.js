// typescript-eslint's type-aware rules that Biome (the formatter and main
// linter, biome.json) lacks or has only in its experimental nursery: promises
// left floating or passed where a callback's result is ignored, awaits of
// non-promises, switches that miss a case. (no-unnecessary-type-assertion is
// left out: without noUncheckedIndexedAccess it flags every `xs[i]!`, which
// the code writes on purpose where an index is known to be in range.)
import tseslint from 'typescript-eslint'

export default tseslint.config({
  files: ['src/**/*.ts'],
  languageOptions: {
    parser: tseslint.parser,
    parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
  },
  plugins: { '@typescript-eslint': tseslint.plugin },
  linterOptions: { reportUnusedDisableDirectives: 'error' },
  rules: {
    '@typescript-eslint/no-floating-promises': 'error',
    '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
    '@typescript-eslint/await-thenable': 'error',
    '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
  },
})
