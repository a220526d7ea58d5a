// The administrator's charts (Apache ECharts, bundled): counts and rates of flagged submissions per unit
// one level down; a click on a bar opens that unit's dashboard.
(function () {
  "use strict";
  const { t } = window.evidence;
  const data = JSON.parse(document.getElementById("chart-data").textContent);
  const series = ["invalid", "needs_review", "duplicate"];
  const colours = { invalid: "#c0362c", needs_review: "#d9a400", duplicate: "#7b3fb5" };

  function draw(id, values, percent) {
    const chart = echarts.init(document.getElementById(id), null, { renderer: "svg" });
    chart.setOption({
      animation: false,
      color: series.map((s) => colours[s]),
      tooltip: { trigger: "axis", valueFormatter: (v) => (percent ? (100 * v).toFixed(1) + "%" : String(v)) },
      legend: { top: 0 },
      grid: { left: 40, right: 10, top: 36, bottom: 40, containLabel: true },
      xAxis: { type: "category", data: data.labels, axisLabel: { interval: 0, rotate: data.labels.length > 6 ? 40 : 0 } },
      yAxis: percent
        ? { type: "value", max: 1, axisLabel: { formatter: (v) => Math.round(100 * v) + "%" } }
        : { type: "value", minInterval: 1 },
      series: series.map((s) => ({ id: s, name: t("overall_" + s), type: "bar", data: values[s] })),
    });
    if (data.drill) {
      chart.on("click", (params) => {
        window.location.href = "/admin?region=" + encodeURIComponent(data.keys[params.dataIndex]);
      });
    }
    window.addEventListener("resize", () => chart.resize());
    return chart;
  }

  draw("counts-chart", data.counts, false);
  draw("rates-chart", data.rates, true);
})();
