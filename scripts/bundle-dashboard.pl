#!/usr/bin/perl
# Bundles the dashboard's ES modules (dashboard/*.js) into the one script
# the module serves as dashboard.js, so that the page loads one file, not
# one a module.  Run by the build (config.make for nginx's make, and so
# for CMake through scripts/build-module.sh), never by hand:
#
#   scripts/bundle-dashboard.pl DASHBOARD_DIR [ENTRY] > dashboard.js
#
# The modules keep the small subset of the module syntax that is all the
# dashboard uses, and anything else fails the build with the file and
# line:
#
#   import * as name from './file.js';
#   import {a, b as c} from './file.js';          (may span lines)
#   export function f(...) / export async function f(...)
#   export const NAME = ... / export class Name ...  (one name each)
#
# Each module becomes a function scope run once, in the order ES modules
# are evaluated (dependencies first, depth-first from ENTRY, default
# app.js), that returns its exports; an import becomes a constant taken
# from them.  Exports are functions, classes and constants, so a copy
# behaves like the live binding it replaces.  Perl's core only (perl-base
# is essential in Debian): nothing from npm in the product's build.

use strict;
use warnings;

my ($dir, $entry) = @ARGV;
die "usage: $0 DASHBOARD_DIR [ENTRY]\n" unless defined $dir && -d $dir;
$entry //= 'app.js';

my (%done, %busy, @order, %exports, %body);

sub fail {
    my ($file, $text, $pos, $why) = @_;
    my $line = 1 + (substr($text, 0, $pos) =~ tr/\n//);
    die "$dir/$file:$line: $why\n";
}

sub var_of {
    my ($file) = @_;
    (my $v = $file) =~ s/\.js$//;
    $v =~ s/[^A-Za-z0-9_]/_/g;
    return "ps\$$v";
}

sub load {
    my ($file, $from) = @_;
    return if $done{$file};
    die "$dir/$from: import cycle through $file\n" if $busy{$file};
    $busy{$file} = 1;

    open(my $fh, '<', "$dir/$file")
        or die "$dir/$file: $!" . ($from ? " (imported by $from)" : '')
               . "\n";
    my $text = do { local $/; <$fh> };
    close $fh;

    my (@deps, @names);

    # imports: replaced by constants (the line count stays the same)
    $text =~ s!^import[ \t]+(\*[ \t]+as[ \t]+([A-Za-z_\$][\w\$]*)
                              |\{([^}]*)\})
               [ \t]+from[ \t]+'\./([\w.-]+\.js)';!
        my ($ns, $list, $dep) = ($2, $3, $4);
        push @deps, $dep;
        my $v = var_of($dep);
        if (defined $ns) {
            "const $ns = $v;";
        } else {
            my @b;
            for my $part (split /,/, $list) {
                next unless $part =~ /\S/;
                $part =~ /^\s*([A-Za-z_\$][\w\$]*)
                          (?:\s+as\s+([A-Za-z_\$][\w\$]*))?\s*$/x
                    or die "$dir/$file: import {$list}: not a list of "
                           . "names\n";
                push @b, defined $2 ? "$1: $2" : $1;
            }
            my $nl = () = $list =~ /\n/g;
            "const {" . join(', ', @b) . "} = $v;" . ("\n" x $nl);
        }
    !gmxe;

    # exports: the declaration stays, its name is returned
    $text =~ s{^export[ \t]+((?:async[ \t]+)?function\*?|const|class)
               ([ \t]+)([A-Za-z_\$][\w\$]*)}{
        push @names, $3;
        "$1$2$3";
    }gmxe;

    while ($text =~ /^[ \t]*(?:import|export)\b/gm) {
        fail($file, $text, pos($text), 'import or export the bundler does '
             . 'not know (see scripts/bundle-dashboard.pl)');
    }
    while ($text =~ /\bimport[ \t]*\(/g) {
        fail($file, $text, pos($text), 'dynamic import()');
    }

    load($_, $file) for @deps;

    delete $busy{$file};
    $done{$file} = 1;
    $exports{$file} = \@names;
    $body{$file} = $text;
    push @order, $file;
}

load($entry);

print "// The pathstats dashboard: dashboard/*.js as one script, written "
      . "by\n// scripts/bundle-dashboard.pl at build time.  Edit the "
      . "modules, not this.\n";

for my $file (@order) {
    my $text = $body{$file};
    $text .= "\n" unless $text =~ /\n\z/;
    my @names = @{ $exports{$file} };
    if ($file eq $entry) {
        print "\n// ---- $file\n(() => {\n$text})();\n";
    } else {
        print "\n// ---- $file\nconst " . var_of($file) . " = (() => {\n"
              . $text . "return {" . join(', ', @names) . "};\n})();\n";
    }
}
