#!/usr/bin/env node
import { execute, settings } from '@oclif/core';

// Always run the compiled JS in dist/. Without this, oclif tries to locate/transpile the
// TypeScript sources whenever NODE_ENV is "test" or "development" (AVA sets NODE_ENV=test)
// and prints a warning on stderr.
settings.enableAutoTranspile = false;

await execute({ dir: import.meta.url });
