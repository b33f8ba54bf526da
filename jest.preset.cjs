// Shared jest settings; each package's jest.config.cjs spreads this.
// ESM-only packages in node_modules that jest's CommonJS runtime must transpile (Node runs them
// through require(esm); jest has its own module system and needs them as CommonJS).
const esmOnly = ['hyparquet', 'hyparquet-writer'];
module.exports = {
  testEnvironment: 'node', // never jsdom for tfjs code (TypedArray realm, STYLE.md pitfall 6)
  roots: ['<rootDir>/src'], // ignore out-tsc/ and dist/
  testEnvironmentOptions: { customExportConditions: ['@tt/source', 'node', 'node-addons'] },
  transform: {
    // isolatedModules (tsconfig.base.json) makes ts-jest transpile only: types are checked once by the `typecheck` target
    '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.spec.json' }],
    [`/node_modules/(${esmOnly.join('|')})/.+\\.js$`]: ['ts-jest', { tsconfig: require('node:path').join(__dirname, 'tools/scripts/tsconfig.jest-esm.json') }],
  },
  transformIgnorePatterns: [`/node_modules/(?!(${esmOnly.join('|')})/)`],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' }, // strip .js from relative specifiers
  reporters: ['default', require.resolve('./tools/scripts/jest-totals-reporter.cjs')],
  testTimeout: 120000,
};
