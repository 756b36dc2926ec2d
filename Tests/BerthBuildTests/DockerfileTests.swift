import Testing
@testable import BerthBuild

@Suite struct DockerfileTests {
    @Test func parsesFormsContinuationsAndDirectives() throws {
        let df = try Dockerfile(parsing: """
        # syntax=docker/dockerfile:1
        # escape=`
        ARG BASE=busybox
        FROM $BASE AS build
        # a comment
        RUN echo a && `
        # inside a continuation
            echo b
        CMD ["sh", "-c", "echo hi"]
        COPY --from=build --chown=1:2 /a /b
        """)
        #expect(df.escape == "`")
        #expect(df.instructions.map(\.keyword) == ["ARG", "FROM", "RUN", "CMD", "COPY"])
        #expect(df.instructions[2].text == "echo a &&     echo b")
        #expect(df.instructions[2].line == 6)
        #expect(df.instructions[3].json == ["sh", "-c", "echo hi"])
        #expect(df.instructions[4].flags == ["from": "build", "chown": "1:2"])
    }

    @Test func copyTakesLinkAndRepeatedExcludes() throws {
        let df = try Dockerfile(parsing: "FROM busybox\nCOPY --link --exclude=*.md --exclude=docs/ app/ /app/\nADD --checksum=sha256:00 http://x/y /z")
        #expect(df.instructions[1].flags == ["link": "true"])
        #expect(df.instructions[1].excludes == ["*.md", "docs/"])
        #expect(df.instructions[2].flags == ["checksum": "sha256:00"])
        #expect(throws: DockerfileError("Dockerfile:2: COPY --exclude needs a pattern")) { try Dockerfile(parsing: "FROM x\nCOPY --exclude= a b") }
        #expect(try Dockerfile(parsing: "FROM x\nCOPY --parents a/./b c/").instructions[1].flags == ["parents": "true"])
        #expect(throws: DockerfileError("Dockerfile:2: ADD --parents is not supported by the classic builder (it needs BuildKit)")) {
            try Dockerfile(parsing: "FROM x\nADD --parents a/b c")
        }
    }

    @Test func secretAndSSHMountsTakeBuildKitsDefaults() throws {
        let secret = try RunMount(parsing: "type=secret,id=tok")
        #expect(secret.kind == .secret && secret.target == "/run/secrets/tok" && secret.mode == 0o400 && !secret.required)
        let named = try RunMount(parsing: "type=secret,target=/etc/app/key,required")
        #expect(named.id == "key" && named.target == "/etc/app/key" && named.required)
        let env = try RunMount(parsing: "type=secret,id=tok,env=TOKEN")
        #expect(env.env == "TOKEN" && env.target.isEmpty)
        let ssh = try RunMount(parsing: "type=ssh")
        #expect(ssh.id == "default" && ssh.mode == 0o600 && ssh.target.isEmpty)
        #expect(throws: DockerfileError("invalid secret mount. one of source, target required")) { try RunMount(parsing: "type=secret") }
        #expect(throws: DockerfileError("--mount: required and env apply to secret and ssh mounts")) { try RunMount(parsing: "type=cache,target=/c,required") }
    }

    @Test func refusesWhatTheClassicBuilderCannotDo() {
        #expect(throws: DockerfileError("Dockerfile:2: RUN --security is not supported by the classic builder (it needs BuildKit)")) {
            try Dockerfile(parsing: "FROM busybox\nRUN --security=insecure true")
        }
        #expect(throws: DockerfileError("Dockerfile:2: unterminated heredoc EOF: no line \"EOF\" after it")) {
            try Dockerfile(parsing: "FROM busybox\nRUN <<EOF\necho")
        }
        #expect(throws: DockerfileError("Dockerfile:2: unknown instruction: BOGUS")) { try Dockerfile(parsing: "FROM busybox\nBOGUS x") }
        #expect(throws: DockerfileError("Dockerfile:1: no build stage in current context: the first instruction must be FROM")) {
            try Dockerfile(parsing: "RUN true")
        }
        #expect(throws: DockerfileError("Dockerfile:2: COPY requires at least one argument")) { try Dockerfile(parsing: "FROM x\nCOPY") }
        #expect(throws: DockerfileError.self) { try Dockerfile(parsing: "# comment only\n") }
    }

    @Test func readsHeredocsAsBuildKitDoes() throws {
        let df = try Dockerfile(parsing: "FROM busybox\nRUN <<EOF\necho \"$A\"\nEOF\n"
            + "RUN <<-'EOT' sh\n\techo raw\n\tEOT\n"
            + "COPY <<a.txt <<\"b.txt\" /app/\nA\na.txt\nB\nb.txt\n"
            + "RUN echo \"x <<NOT\" && cat<<ALSO_NOT && echo 2<<<here\nCMD [\"sh\"]\n")
        let run = df.instructions[1], shellFed = df.instructions[2], copy = df.instructions[3]
        #expect(run.heredocs == [Heredoc(name: "EOF", content: "echo \"$A\"\n", raw: "echo \"$A\"\nEOF\n", expand: true)])
        #expect(run.isSoleHeredoc && !shellFed.isSoleHeredoc)
        #expect(shellFed.heredocs == [Heredoc(name: "EOT", content: "echo raw\n", raw: "\techo raw\n\tEOT\n", expand: false)])
        #expect(copy.heredocs.map(\.name) == ["a.txt", "b.txt"] && copy.heredocs.map(\.expand) == [true, false])
        #expect(df.instructions[4].heredocs.isEmpty)  // quoted, glued to a word, or a here-string: no heredoc
        #expect(df.instructions.map(\.keyword) == ["FROM", "RUN", "RUN", "COPY", "RUN", "CMD"])
        #expect(try ShellLexer().expand(#"'$A' "${A}" \$A $B"#, ["A": "1"]) == #"'1' "1" $A "#)
    }

    @Test func readsRunMounts() throws {
        let df = try Dockerfile(parsing: "FROM busybox\nRUN --mount=type=cache,target=/c,id=go,sharing=locked,uid=1000,mode=0700 "
            + "--mount=type=tmpfs,dst=/t,size=64m --mount=source=src,target=/s --mount=type=bind,from=build,src=/out,target=/o,rw make")
        let mounts = df.instructions[1].mounts
        #expect(mounts.map(\.kind) == [.cache, .tmpfs, .bind, .bind])
        #expect(mounts[0].id == "go" && mounts[0].sharing == .locked && mounts[0].uid == 1000 && mounts[0].mode == 0o700 && !mounts[0].readOnly)
        #expect(mounts[1].target == "/t" && mounts[1].size == 64 << 20)
        #expect(mounts[2].readOnly && mounts[2].source == "src" && mounts[3].from == "build" && !mounts[3].readOnly)
        #expect(df.instructions[1].text == "make")
        #expect(throws: DockerfileError("Dockerfile:2: --mount: a target is required")) { try Dockerfile(parsing: "FROM x\nRUN --mount=type=cache true") }
        #expect(throws: DockerfileError("Dockerfile:2: --mount: unexpected key 'bogus' in 'bogus=1'")) {
            try Dockerfile(parsing: "FROM x\nRUN --mount=target=/a,bogus=1 true")
        }
    }

    @Test func substitutesVariables() throws {
        let lex = ShellLexer()
        let env = ["A": "1", "EMPTY": "", "P": "/opt"]
        #expect(try lex.process("$A-${A}-${B:-def}-${A:+alt}-${EMPTY:-e}-${EMPTY-u}", env) == "1-1-def-alt-e-")
        #expect(try lex.process(#"'$A' "$A" \$A"#, env) == "$A 1 $A")
        #expect(try lex.words("$P/bin  \"a b\"", env) == ["/opt/bin", "a b"])
        #expect(try lex.pairs(#"K=v L="x y" M=$A"#, env, legacy: true).map { "\($0.0)=\($0.1 ?? "-")" } == ["K=v", "L=x y", "M=1"])
        #expect(try lex.pairs("KEY value with spaces", env, legacy: true).map { "\($0.0)=\($0.1 ?? "-")" } == ["KEY=value with spaces"])
        #expect(throws: DockerfileError.self) { try lex.process("${A", env) }
    }

    @Test func ignoreRulesAsDockerReadsThem() {
        let rules = IgnoreRules("""
        # comment
        *.log
        build/
        **/secret*
        !keep.log
        /docs/*.md
        """)
        #expect(rules.excludes("a.log"))
        #expect(!rules.excludes("keep.log"))
        #expect(!rules.excludes("dir/a.log"))  // `*` stays in the top directory
        #expect(rules.excludes("build/x/y"))
        #expect(rules.excludes("a/b/secret.txt") && rules.excludes("secret"))
        #expect(rules.excludes("docs/x.md") && !rules.excludes("docs/x.txt"))
        #expect(IgnoreRules.match(Array("[a-c]?.txt")[...], Array("bz.txt")[...]))
        #expect(IgnoreRules.match(Array("a/**/b")[...], Array("a/b")[...]) && IgnoreRules.match(Array("a/**/b")[...], Array("a/x/y/b")[...]))
        #expect(!IgnoreRules.match(Array("[!a]*")[...], Array("abc")[...]) && !IgnoreRules.match(Array("[ab")[...], Array("a")[...]))
        #expect(IgnoreRules.match(Array(#"\*x"#)[...], Array("*x")[...]) && !IgnoreRules.match(Array(#"\*x"#)[...], Array("ax")[...]))
    }

    /// Found by libFuzzer: backtracking over stars took minutes on one `.dockerignore` line.
    @Test func ignorePatternsMatchInPolynomialTime() {
        let pattern = Array(String(repeating: "*a", count: 1000) + "b")
        let name = Array(String(repeating: "a", count: 1500))
        #expect(!IgnoreRules.match(pattern[...], name[...]))
        #expect(IgnoreRules.match(Array(String(repeating: "?*", count: 500))[...], Array(String(repeating: "x", count: 600))[...]))
    }
}
