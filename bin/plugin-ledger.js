#!/usr/bin/env node
// Thin launcher: Node >= 22.22 runs the TypeScript sources directly (type stripping).
import "../src/cli/main.ts"
