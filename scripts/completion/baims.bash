# bash completion for baims. Subcommands and options are read from `baims --help` and
# `baims <command> --help`, so the completion follows the installed version.
_baims_help_words() {
    # the subcommand names (first word of each line under "Subcommands:")
    "$1" --help 2>/dev/null | sed -n '/^Subcommands:/,$p' | sed -n 's/^  \([a-z][a-z-]*\).*/\1/p'
}

_baims_options() {
    # every -x / --long option of the help text of "$@"
    "$@" --help 2>/dev/null | grep -o -- '\(^\|[ ,]\)--\?[A-Za-z][A-Za-z0-9-]*' |
        sed 's/^[ ,]*//' | sort -u
}

_baims() {
    local cur prev words cword
    if declare -F _init_completion >/dev/null; then
        _init_completion || return
    else
        cur=${COMP_WORDS[COMP_CWORD]}
        prev=${COMP_WORDS[COMP_CWORD - 1]}
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
    fi
    local bin=${words[0]} cmd="" i
    local commands
    commands=$(_baims_help_words "$bin" | tr '\n' ' ')
    for ((i = 1; i < cword; i++)); do
        if [[ " $commands " == *" ${words[i]} "* ]]; then
            cmd=${words[i]}
            break
        fi
    done
    case "$prev" in
        --log-level)
            mapfile -t COMPREPLY < <(compgen -W "trace debug info warn error off" -- "$cur")
            return ;;
        --log-format)
            mapfile -t COMPREPLY < <(compgen -W "text json" -- "$cur")
            return ;;
        --progress)
            mapfile -t COMPREPLY < <(compgen -W "auto always never" -- "$cur")
            return ;;
    esac
    if [[ "$cur" == -* ]]; then
        if [[ -n "$cmd" ]]; then
            mapfile -t COMPREPLY < <(compgen -W "$(_baims_options "$bin" "$cmd")" -- "$cur")
        else
            mapfile -t COMPREPLY < <(compgen -W "$(_baims_options "$bin")" -- "$cur")
        fi
    elif [[ -z "$cmd" ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$commands" -- "$cur")
    else
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
    fi
}
complete -F _baims baims
