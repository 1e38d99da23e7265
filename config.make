# nginx addon make fragment (auto/make sources it after the addon script
# ran): the rule that bundles the dashboard's ES modules into the one
# script ngx_http_pathstats_dashboard.c embeds; it runs again whenever a
# module or the bundler changes.

ngx_pathstats_js=
for ngx_pathstats_file in "$ngx_pathstats_dashboard"/*.js; do
    ngx_pathstats_js="$ngx_pathstats_js $ngx_pathstats_file"
done

cat << END                                            >> $NGX_MAKEFILE

$ngx_pathstats_bundle:	$ngx_addon_dir/scripts/bundle-dashboard.pl \\
		$ngx_pathstats_js
	perl $ngx_addon_dir/scripts/bundle-dashboard.pl \\
		$ngx_pathstats_dashboard > $ngx_pathstats_bundle.tmp
	mv $ngx_pathstats_bundle.tmp $ngx_pathstats_bundle

END
