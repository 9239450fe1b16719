// Runs the veilbox CLI from source (tests spawn it with tsx).
import { main } from '../../src/cli/main.js'

await main()
