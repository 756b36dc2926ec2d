import BerthRuntimeCLI
import Glibc

exit(RuntimeCommand.main(CommandLine.arguments))
