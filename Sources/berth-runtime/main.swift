import BerthRuntimeCLI
import CRuntimeSeal  // its constructor re-executes from a sealed copy
import Glibc

exit(RuntimeCommand.main(CommandLine.arguments))
