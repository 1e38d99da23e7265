# The man pages the packages install describe what there is: every nginx
# directive and variable of the module, every option of the aggregator;
# and man formats them without a warning.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PathStats::Test;

my $repo = repo_dir();

# a man page's source with the roff escapes of '-' and of fonts taken out
sub page {
    my ($name) = @_;
    my $text = slurp("$repo/man/$name") // '';
    $text =~ s/\\-/-/g;
    $text =~ s/\\f[BIRP]//g;
    return $text;
}

my $module = page('ngx_http_pathstats_module.5');
ok(length $module, 'man/ngx_http_pathstats_module.5');
my (@directives, @variables);
for my $c (glob "$repo/ngx_http_pathstats_*.c") {
    my $src = slurp($c);
    # an ngx_command_t entry: the name alone on its line, then its flags
    push @directives, $src =~ /\{ ngx_string\("(pathstats\w*)"\),\n\s+NGX_/g;
    # an ngx_http_variable_t entry: the name, then its handlers
    push @variables, $src =~ /\{ ngx_string\("(pathstats\w*)"\), NULL,/g;
}
ok(@directives >= 8, scalar(@directives) . ' directives in the sources');
ok(@variables >= 1, scalar(@variables) . ' variables in the sources');
# each is the tag of a .TP paragraph
like($module, qr/^\.TP\n\.B[IR]? "?\Q$_\E[ ;]/m, "directive $_ is described")
    for @directives;
like($module, qr/^\.TP\n\.B \$\Q$_\E$/m, "variable \$$_ is described")
    for @variables;

my $aggregator = page('pathstats-aggregator.8');
ok(length $aggregator, 'man/pathstats-aggregator.8');
my ($rc, $help) = run_aggregator('--help');
is($rc, 0, 'pathstats-aggregator --help');
my %seen;
my @options = grep { !$seen{$_}++ } $help =~ /(?:^|[\s,])(--[a-z][a-z-]*)/g;
ok(@options >= 10, scalar(@options) . ' options in --help');
like($aggregator, qr/^\.TP\n\.B[IR]? "?(?:-\w, )?\Q$_\E[ "\n]/m,
     "option $_ is described") for @options;

SKIP: {
    skip 'man is not installed', 2 unless -x '/usr/bin/man';
    for my $page (qw(ngx_http_pathstats_module.5 pathstats-aggregator.8)) {
        my ($mrc, undef, $err) = PathStats::Test::run_cmd(
            ['man', '--warnings', '-l', "$repo/man/$page"],
            env => { MANWIDTH => 80 });
        is("$mrc $err", '0 ', "man --warnings formats $page cleanly");
    }
}

done_testing();
