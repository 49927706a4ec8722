complete -c logq -s e -l regexp -d 'Only lines that match this regular expression (repeatable: any of them), besides QUERY' -r
complete -c logq -s H -l host -d 'Only lines from hosts matching this pattern (repeatable: any of them)' -r
complete -c logq -s t -l program -d 'Only lines from programs matching this pattern (repeatable: any of them), like journalctl\'s -t' -r
complete -c logq -s u -l unit -d 'Only journal entries of systemd units matching this pattern (repeatable: any of them), like journalctl\'s -u' -r
complete -c logq -s p -l severity -d 'Only lines of this severity or worse, or of a range FROM..TO' -r
complete -c logq -l since -d 'Only lines at or after this time' -r
complete -c logq -l until -d 'Only lines before this time (same forms as --since)' -r
complete -c logq -s n -l lines -d 'Only the newest N matches, printed oldest first (newest first with -r)' -r
complete -c logq -l by -d 'With --count: count per value of this field' -r -f -a "host\t''
program\t''
severity\t''"
complete -c logq -s A -l after-context -d 'Also print N lines after each match' -r
complete -c logq -s B -l before-context -d 'Also print N lines before each match (see -A)' -r
complete -c logq -s C -l context -d 'Also print N lines before and after each match (see -A); -A and -B override it' -r
complete -c logq -s o -l output -d 'How to print lines' -r -f -a "short\t'`Nov 24 22:20:01 web1 sshd[812]: message`, like journalctl\'s short output; a line without a syslog header as `TIME HOST LINE`; `! ` before an anomaly'
raw\t'Each line byte for byte as received'
json\t'One JSON object per line, with every field of the record'"
complete -c logq -l color -d 'When to colour the output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c logq -l data-dir -d 'The collector\'s data directory [default: `data-dir` from /etc/collectord/collectord.toml, else /var/lib/collectord]' -r -F
complete -c logq -s s -l case-sensitive -d 'Match case: words, phrases, prefixes and regular expressions'
complete -c logq -l anomalies -d 'Only lines the anomaly detectors flagged'
complete -c logq -l patterns -d 'Print the kinds of line that match instead of the lines: each message template with its count, latest first'
complete -c logq -s r -l reverse -d 'Print the newest lines first'
complete -c logq -s c -l count -d 'Print how many lines match instead of the lines'
complete -c logq -s f -l follow -d 'Keep running and print new matching lines as collectord indexes them (like tail -f), until interrupted'
complete -c logq -s h -l help -d 'Print help (see more with \'--help\')'
complete -c logq -s V -l version -d 'Print version'
