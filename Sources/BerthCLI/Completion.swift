/// `berth completion bash|zsh|fish`: a completion script for the shell, made from the command
/// tables and the flags each command's parser takes (asked for the way `--help` asks: the parser
/// raises `HelpRequested` with its specs), so completion lists what the CLI accepts. Names of
/// containers, images, networks and volumes come from the daemon when the user presses tab.
extension CLI {
    /// What a command's arguments name.
    static let argumentKinds: [String: String] = {
        var kinds: [String: String] = [:]
        for name in ["attach", "commit", "cp", "diff", "exec", "export", "kill", "logs", "pause", "port", "rename", "restart", "rm", "start",
                     "stats", "stop", "top", "unpause", "update", "wait", "inspect"] {
            kinds[name] = "containers"
            kinds["container " + name] = "containers"
        }
        for name in ["run", "create"] { kinds[name] = "images"; kinds["container " + name] = "images" }
        for name in ["rmi", "tag", "history", "save", "push"] { kinds[name] = "images" }
        for name in ["rm", "inspect", "history", "save", "tag", "push"] { kinds["image " + name] = "images" }
        for name in ["rm", "remove", "inspect", "connect", "disconnect"] { kinds["network " + name] = "networks" }
        for name in ["rm", "remove", "inspect"] { kinds["volume " + name] = "volumes" }
        return kinds
    }()

    func completion(_ args: [String]) throws -> Int32 {
        let f = try Flags(args, specs: [])
        guard let shell = f.positionals.first, f.positionals.count == 1 else {
            throw Flags.UsageError(description: "\"\(name) completion\" requires exactly 1 argument: bash, zsh or fish.")
        }
        switch shell {
        case "bash": out(bashCompletion())
        case "zsh": out("#compdef berth\n# zsh runs the bash completion through bashcompinit\nautoload -U +X bashcompinit && bashcompinit\n" + bashCompletion())
        case "fish": out(fishCompletion())
        default: throw Flags.UsageError(description: "unsupported shell \"\(shell)\": use bash, zsh or fish")
        }
        return 0
    }

    /// Every command path ("run", "network create") with the flags its parser takes.
    func commandTree() -> [(path: String, flags: [Flags.Spec])] {
        func flags(_ command: Command) -> [Flags.Spec] {
            do { _ = try command(self, ["--help"]) } catch let help as Flags.HelpRequested { return help.specs } catch {}
            return []
        }
        var tree = Self.commands.sorted { $0.key < $1.key }.map { ($0.key, flags($0.value)) }
        for (group, subcommands) in Self.groups.sorted(by: { $0.key < $1.key }) {
            tree += subcommands.sorted { $0.key < $1.key }.map { ("\(group) \($0.key)", flags($0.value)) }
        }
        return tree
    }

    static func flagWords(_ specs: [Flags.Spec]) -> String {
        specs.flatMap { spec in ["--" + spec.long] + (spec.short.map { ["-\($0)"] } ?? []) }.sorted().joined(separator: " ")
    }

    func bashCompletion() -> String {
        let tree = commandTree()
        var cases = "    \"\") subcommands=\"\((Self.commands.keys.sorted() + Self.groups.keys.sorted()).joined(separator: " "))\"; flags=\"--help --host -H --version\" ;;\n"
        for (group, subcommands) in Self.groups.sorted(by: { $0.key < $1.key }) {
            cases += "    \"\(group)\") subcommands=\"\(subcommands.keys.sorted().joined(separator: " "))\" ;;\n"
        }
        for (path, specs) in tree {
            cases += "    \"\(path)\") flags=\"\(Self.flagWords(specs)) --help\"; kind=\"\(Self.argumentKinds[path] ?? "")\" ;;\n"
        }
        return """
        # bash completion for berth (berth completion bash > /usr/share/bash-completion/completions/berth)
        _berth_names() {
            case "$1" in
                containers) berth ps -a --format '{{.Names}}' 2>/dev/null ;;
                images) berth images --format '{{.Repository}}:{{.Tag}}' 2>/dev/null | grep -v '<none>' ;;
                networks) berth network ls --format '{{.Name}}' 2>/dev/null ;;
                volumes) berth volume ls --format '{{.Name}}' 2>/dev/null ;;
            esac
        }

        _berth() {
            local cur=${COMP_WORDS[COMP_CWORD]} path="" w i skip=""
            for ((i = 1; i < COMP_CWORD; i++)); do
                w=${COMP_WORDS[i]}
                if [[ -n $skip ]]; then skip=""; continue; fi
                case "$w" in
                    -H|--host) skip=1; continue ;;
                    -*) continue ;;
                esac
                if [[ -z $path ]]; then path=$w
                elif [[ " \(Self.groups.keys.sorted().joined(separator: " ")) " == *" $path "* ]]; then path="$path $w"
                else break
                fi
            done
            local subcommands="" flags="" kind=""
            case "$path" in
        \(cases)    esac
            if [[ $cur == -* ]]; then
                COMPREPLY=($(compgen -W "$flags" -- "$cur"))
            elif [[ -n $subcommands ]]; then
                COMPREPLY=($(compgen -W "$subcommands" -- "$cur"))
            elif [[ -n $kind ]]; then
                COMPREPLY=($(compgen -W "$(_berth_names "$kind")" -- "$cur"))
            fi
        }
        complete -F _berth berth

        """
    }

    func fishCompletion() -> String {
        var lines = [
            "# fish completion for berth (berth completion fish > ~/.config/fish/completions/berth.fish)",
            "function __berth_path --description 'the berth command path typed so far'",
            "    set -l words (commandline -opc)",
            "    set -l path",
            "    set -l skip 0",
            "    for w in $words[2..-1]",
            "        if test $skip = 1; set skip 0; continue; end",
            "        switch $w",
            "            case -H --host; set skip 1; continue",
            "            case '-*'; continue",
            "        end",
            "        if test (count $path) -eq 0; set path $w",
            "        else if contains -- $path[1] \(Self.groups.keys.sorted().joined(separator: " ")); and test (count $path) -eq 1; set path $path $w",
            "        else; break; end",
            "    end",
            "    echo (string join ' ' -- $path)",
            "end",
            "complete -c berth -f",
            "complete -c berth -n 'test -z (__berth_path)' -a '\((Self.commands.keys.sorted() + Self.groups.keys.sorted()).joined(separator: " "))'",
        ]
        for (group, subcommands) in Self.groups.sorted(by: { $0.key < $1.key }) {
            lines.append("complete -c berth -n 'test (__berth_path) = \(group)' -a '\(subcommands.keys.sorted().joined(separator: " "))'")
        }
        let lists = ["containers": "berth ps -a --format '{{.Names}}'", "images": "berth images --format '{{.Repository}}:{{.Tag}}'",
                     "networks": "berth network ls --format '{{.Name}}'", "volumes": "berth volume ls --format '{{.Name}}'"]
        for (path, specs) in commandTree() {
            let condition = "-n 'test (__berth_path) = \"\(path)\"'"
            for spec in specs {
                lines.append("complete -c berth \(condition) -l \(spec.long)" + (spec.short.map { " -s \($0)" } ?? "") + (spec.takesValue ? " -r" : ""))
            }
            if let kind = Self.argumentKinds[path], let list = lists[kind] {
                lines.append("complete -c berth \(condition) -a \"(\(list) 2>/dev/null)\"")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
