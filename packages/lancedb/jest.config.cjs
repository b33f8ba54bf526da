process.env.LANCEDB_LOG ??= "error"; // LanceDB's Rust log: keep its warnings about its own defaults out of test output
module.exports = { ...require('../../jest.preset.cjs'), displayName: require('./package.json').name };
